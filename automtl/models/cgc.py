"""Customized gate control (CGC, Tang et al. RecSys 2020): task-specific + shared experts.

:class:`ExtractionLayer` is one CGC extraction network; PLE (:mod:`automtl.models.ple`)
stacks it. All experts of one layer live in one batched :class:`Experts`, ordered
``[task 0's K, ..., task T-1's K, S shared]``; task t's gate mixes its own K experts and the S
shared ones. Because the experts share one weight tensor, that tensor counts as shared at the
parameter level even though each task's slice only receives its own task's gradient.
"""

from __future__ import annotations

from typing import ClassVar, cast

import torch
from pydantic import Field, model_validator
from torch import nn

from automtl.config import ModelConfig
from automtl.models.layers import Experts, Gate, mix
from automtl.models.modular import ModularMTL, Representation
from automtl.models.params import ExpertParams, GateParams
from automtl.models.registry import register_topology


class CGCParams(ExpertParams, GateParams):
    """CGC's settings: ``num_task_experts`` per task and ``num_shared_experts`` shared experts of
    ``expert_units``; every task gate needs at least one expert."""

    dsl_keys: ClassVar[dict[str, str]] = {"shared_experts": "num_shared_experts",
                                          "task_experts": "num_task_experts"}

    num_shared_experts: int = Field(4, ge=0, le=64, description="shared experts per level")
    num_task_experts: int = Field(1, ge=0, le=16, description="experts per task per level")

    @model_validator(mode="after")
    def _a_gate_has_experts(self) -> CGCParams:
        if self.num_shared_experts + self.num_task_experts < 1:
            raise ValueError("num_task_experts: cgc/ple need at least one expert per gate")
        return self

    def summary(self) -> dict[str, str]:
        return {"experts": f"{self.num_shared_experts} shared + {self.num_task_experts}/task",
                "units": f"experts {self.expert_units}", "gate": self.gate_kind}

    def task_experts(self) -> int:
        return self.num_task_experts


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
                               config.dropout)

        def gate(num_experts: int) -> Gate:
            return Gate(in_dim, num_experts, params.gate_kind, params.gate_units,
                        config.activation, params.gate_temperature)

        self.task_gates = nn.ModuleList(
            gate(self.num_task_experts + self.num_shared_experts) for _ in range(num_tasks))
        self.shared_gate = gate(total) if shared_gate and self.num_shared_experts > 0 else None
        self.output_dim = self.experts.output_dim

    def _expert_inputs(self, task_inputs: list[torch.Tensor],
                       shared_input: torch.Tensor | None) -> torch.Tensor:
        if self.common_input:
            return task_inputs[0]
        k, s = self.num_task_experts, self.num_shared_experts
        groups = [x.unsqueeze(1).expand(-1, k, -1) for x in task_inputs] if k else []
        if s:
            assert shared_input is not None, "shared experts need a shared input"
            groups.append(shared_input.unsqueeze(1).expand(-1, s, -1))
        return torch.cat(groups, dim=1)

    def forward(self, task_inputs: list[torch.Tensor], shared_input: torch.Tensor | None
                ) -> tuple[list[torch.Tensor], torch.Tensor | None, list[torch.Tensor],
                           torch.Tensor]:
        """(task outputs, shared-gate output or None, task gate weights, shared experts)."""
        experts = self.experts(self._expert_inputs(task_inputs, shared_input))
        k = self.num_task_experts
        shared = experts[:, self.num_tasks * k:]
        outputs, weights = [], []
        for t, gate in enumerate(self.task_gates):
            seen = torch.cat([experts[:, t * k:(t + 1) * k], shared], dim=1)
            w = gate(task_inputs[t])
            weights.append(w)
            outputs.append(mix(w, seen))
        shared_out = None
        if self.shared_gate is not None:
            assert shared_input is not None, "the shared gate needs a shared input"
            shared_out = mix(self.shared_gate(shared_input), experts)
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
