"""Customized gate control (CGC, Tang et al. RecSys 2020): task-specific + shared experts.

:class:`ExtractionLayer` is one CGC extraction network; PLE (:mod:`automtl.models.ple`)
stacks it. All experts of one layer live in one batched :class:`Experts`, ordered
``[task 0's K, ..., task T-1's K, S shared]``; task t's gate mixes its own K experts and the S
shared ones. Because the experts share one weight tensor, that tensor counts as shared at the
parameter level even though each task's slice only receives its own task's gradient.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from automtl.config import ModelConfig
from automtl.models.layers import Experts, Gate
from automtl.models.modular import ModularMTL, Representation
from automtl.models.params import CGCParams
from automtl.models.registry import register_topology


class ExtractionLayer(nn.Module):
    """One extraction network: experts, a gate per task and optionally a shared gate.

    ``common_input`` (the first level): every expert and gate reads the same input. Otherwise
    task t's experts and gate read ``task_inputs[t]`` and the shared experts (and the shared
    gate) read ``shared_input``. ``shared_gate`` (PLE's inner levels) adds a gate over ALL
    experts whose mixture feeds the next level's shared experts; it is omitted when there are
    no shared experts to feed.
    """

    def __init__(self, config: ModelConfig, num_tasks: int, in_dim: int, common_input: bool,
                 shared_gate: bool) -> None:
        super().__init__()
        params = cast("CGCParams", config.params)
        self.num_tasks = num_tasks
        self.num_task_experts = params.num_task_experts
        self.num_shared_experts = params.num_shared_experts
        self.common_input = common_input
        total = num_tasks * self.num_task_experts + self.num_shared_experts
        self.experts = Experts(total, in_dim, params.expert_units, config.activation,
                               config.dropout, config.normalization)

        def gate(num_experts: int) -> Gate:
            return Gate(in_dim, num_experts, params.gate_kind, params.gate_units,
                        config.activation, params.gate_temperature)

        self.task_gates = nn.ModuleList(
            gate(self.num_task_experts + self.num_shared_experts) for _ in range(num_tasks))
        self.shared_gate = gate(total) if shared_gate and self.num_shared_experts > 0 else None
        #: the shared experts are the model's shared representation (the last level: no shared
        #: gate; a gradient method differentiates each task's loss with respect to them)
        self.keeps_shared = not shared_gate and self.num_shared_experts > 0
        self.output_dim = self.experts.output_dim

    def _experts(self, task_inputs: list[torch.Tensor], shared_input: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """All experts' outputs ``[B, T*K + S, D]`` and the shared experts' ``[B, S, D]``.

        The first level's experts read one common input: one product with every expert's first
        layer. At later levels each task's K experts (and the S shared ones) are one product of
        their own input (:meth:`Experts.forward_groups`), so no input is copied per expert.
        Where the shared experts are the model's shared representation (:attr:`keeps_shared`)
        they are computed as a tensor of their own that the whole output is built from
        (:meth:`Experts.forward_with_tail`); elsewhere they are a view of the whole output,
        which gradients taken with respect to it do not reach."""
        k, s, tasks = self.num_task_experts, self.num_shared_experts, self.num_tasks
        if self.common_input and not self.keeps_shared:
            whole = self.experts(task_inputs[0])                          # one product
            return whole, whole[:, tasks * k:]
        groups = [(task_inputs[0], tasks * k)] if self.common_input \
            else [(x, k) for x in task_inputs]
        if s:
            assert shared_input is not None, "shared experts need a shared input"
            groups.append((shared_input, s))
        if self.keeps_shared:
            return self.experts.forward_with_tail(groups)
        whole = self.experts.forward_groups(groups)
        return whole, whole[:, tasks * k:]

    def _gate_rows(self, weights: list[torch.Tensor], shared_weights: torch.Tensor | None
                   ) -> torch.Tensor:
        """Every gate's weights over ALL the layer's experts ``[B, G, T*K + S]`` (G = T task
        gates, plus the shared gate when given) for one batched mix: task t's K + S weights in
        its own K columns and the S shared ones, zeros elsewhere; the shared gate's weights
        as they are. Built by one concatenation of views (the zeros are one tensor)."""
        k, s, tasks = self.num_task_experts, self.num_shared_experts, self.num_tasks
        rows = shared_weights if shared_weights is not None else weights[0]
        zeros = rows.new_zeros(rows.shape[0], (tasks - 1) * k)            # [B, (T-1)*K]
        pieces: list[torch.Tensor] = []
        for t, w in enumerate(weights):                                   # w: [B, K + S]
            if t and k:
                pieces.append(zeros[:, :t * k])
            after = (tasks - 1 - t) * k
            if after and s:  # the other tasks' experts lie between its own and the shared
                own, shared = w.split([k, s], dim=1)
                pieces += [own, zeros[:, :after], shared]
            elif after:
                pieces += [w, zeros[:, :after]]
            else:
                pieces.append(w)
        if shared_weights is not None:                                     # [B, T*K + S]
            pieces.append(shared_weights)
        gates = len(weights) + (shared_weights is not None)
        return torch.cat(pieces, dim=1).view(rows.shape[0], gates, tasks * k + s)

    def forward(self, task_inputs: list[torch.Tensor], shared_input: torch.Tensor | None
                ) -> tuple[list[torch.Tensor], torch.Tensor | None, list[torch.Tensor],
                           torch.Tensor]:
        """(task outputs, shared-gate output or None, task gate weights, shared experts).

        Every gate's mixture is one ``bmm`` over all the layer's experts (zeros in the gate
        rows where a task's gate does not see an expert): a mix over a few experts at a time
        is a product small enough for torch's unvectorised batched-matmul path (contraction x
        rows x columns < 400), several times slower per row than one over all of them."""
        experts, shared = self._experts(task_inputs, shared_input)        # [B, E, D], [B, S, D]
        weights = [gate(x) for gate, x in zip(self.task_gates, task_inputs, strict=True)]
        shared_weights = None
        if self.shared_gate is not None:
            assert shared_input is not None, "the shared gate needs a shared input"
            shared_weights = self.shared_gate(shared_input)                # [B, T*K + S]
        mixed = torch.bmm(self._gate_rows(weights, shared_weights), experts)  # [B, G, D]
        outputs = list(mixed.unbind(1))
        shared_out = outputs.pop() if shared_weights is not None else None
        return outputs, shared_out, weights, shared


def shared_representation(features: torch.Tensor, shared_experts: torch.Tensor,
                          num_shared_experts: int, has_embeddings: bool) -> torch.Tensor | None:
    """The last shared experts' outputs; without shared experts the input features when they
    come from (shared) embeddings, else ``None`` (nothing trainable is shared)."""
    if num_shared_experts > 0:
        return shared_experts
    return features if has_embeddings else None


@register_topology("cgc", params=CGCParams)
class CGC(ModularMTL):
    """``num_task_experts`` per task + ``num_shared_experts`` shared, one gate per task."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.params = cast("CGCParams", config.params)
        self.inputs = self.make_input()
        self.extraction = ExtractionLayer(config, self.num_towers, self.inputs.output_dim,
                                          common_input=True, shared_gate=False)
        self.heads = self.make_heads(self.extraction.output_dim)

    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        features = self.inputs(numeric, categorical)
        outputs, _, weights, shared = self.extraction([features] * self.num_towers, features)
        return outputs, shared_representation(features, shared, self.params.num_shared_experts,
                                              self.inputs.num_categorical > 0), weights

    def shared_modules(self) -> list[nn.Module]:
        return [self.inputs, self.extraction.experts]

    def task_modules(self, index: int) -> list[nn.Module]:
        return [self.extraction.task_gates[index]]

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return self.extraction.experts.last_layer_parameters()
