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
        self.output_dim = self.experts.output_dim

    def _experts(self, task_inputs: list[torch.Tensor],
                 shared_input: torch.Tensor | None) -> torch.Tensor:
        """All experts' outputs ``[B, T*K + S, D]``. The first level is one product of the
        common input with every expert's first layer; at later levels each task's K experts
        (and the S shared ones) are one product of their own input
        (:meth:`Experts.forward_groups`), so no input is copied per expert."""
        if self.common_input:
            return self.experts(task_inputs[0])
        k, s = self.num_task_experts, self.num_shared_experts
        groups = [(x, k) for x in task_inputs]
        if s:
            assert shared_input is not None, "shared experts need a shared input"
            groups.append((shared_input, s))
        return self.experts.forward_groups(groups)

    def _gate_rows(self, weights: list[torch.Tensor], shared_weights: torch.Tensor | None
                   ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The gates' weights as two matrices for one batched mix: over the task experts
        ``[B, G, T*K]`` (task t's weights in its own K columns, zeros elsewhere) and over the
        shared experts ``[B, G, S]``; G = T tasks, plus the shared gate when given. ``None``
        where there are no such experts."""
        k, s, tasks = self.num_task_experts, self.num_shared_experts, self.num_tasks
        own_rows: list[torch.Tensor] = []
        for t, w in enumerate(weights):                                   # w: [B, K + S]
            parts = [w.new_zeros(w.shape[0], t * k)] if t else []
            parts.append(w[:, :k])
            if t < tasks - 1:
                parts.append(w.new_zeros(w.shape[0], (tasks - 1 - t) * k))
            own_rows.append(torch.cat(parts, dim=1))                       # [B, T*K]
        shared_rows = [w[:, k:] for w in weights]                          # T x [B, S]
        if shared_weights is not None:                                     # [B, T*K + S]
            own_rows.append(shared_weights[:, :tasks * k])
            shared_rows.append(shared_weights[:, tasks * k:])
        own = torch.stack(own_rows, dim=1) if k else None                  # [B, G, T*K]
        shared = torch.stack(shared_rows, dim=1) if s else None            # [B, G, S]
        return own, shared

    def forward(self, task_inputs: list[torch.Tensor], shared_input: torch.Tensor | None
                ) -> tuple[list[torch.Tensor], torch.Tensor | None, list[torch.Tensor],
                           torch.Tensor]:
        """(task outputs, shared-gate output or None, task gate weights, shared experts)."""
        experts = self._experts(task_inputs, shared_input)                # [B, T*K + S, D]
        split = self.num_tasks * self.num_task_experts
        # split, not two slices: its backward is one concatenation of the two gradients,
        # where each slice's backward fills a zero tensor of the whole size
        own, shared = experts.split([split, self.num_shared_experts], dim=1)  # [B, T*K|S, D]
        weights = [gate(x) for gate, x in zip(self.task_gates, task_inputs, strict=True)]
        shared_weights = None
        if self.shared_gate is not None:
            assert shared_input is not None, "the shared gate needs a shared input"
            shared_weights = self.shared_gate(shared_input)                # [B, T*K + S]
        own_rows, shared_rows = self._gate_rows(weights, shared_weights)
        # every gate's mixture at once: its task experts' part plus its shared experts' part
        # (the shared slice itself is mixed, so it stays the representation gradients reach)
        mixed = torch.bmm(own_rows, own) if own_rows is not None else None  # [B, G, D]
        if shared_rows is not None:
            shared_mixed = torch.bmm(shared_rows, shared)                  # [B, G, D]
            mixed = shared_mixed if mixed is None else mixed + shared_mixed
        assert mixed is not None, "a gate needs at least one expert"
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
                                              len(self.inputs.embeddings) > 0), weights

    def shared_modules(self) -> list[nn.Module]:
        return [self.inputs, self.extraction.experts]

    def task_modules(self, index: int) -> list[nn.Module]:
        return [self.extraction.task_gates[index]]

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return self.extraction.experts.last_layer_parameters()
