"""Progressive layered extraction (PLE, Tang et al. RecSys 2020): CGC stacked ``levels`` deep.

At level l > 0, task t's experts and gate read task t's output of level l-1 and the shared
experts read the output of the previous level's shared gate, a gate over ALL that level's
experts which only inner levels have. ``levels=1`` is exactly :class:`~automtl.models.cgc.CGC`.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from automtl.config import ModelConfig
from automtl.models.cgc import ExtractionLayer, shared_representation
from automtl.models.modular import ModularMTL, Representation
from automtl.models.params import PLEParams
from automtl.models.registry import register_topology


@register_topology("ple", params=PLEParams)
class PLE(ModularMTL):
    """``levels`` extraction networks; the last level's task outputs feed the towers."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.params = cast("PLEParams", config.params)
        self.inputs = self.make_input()
        in_dim = self.inputs.output_dim
        levels = []
        for level in range(self.params.levels):
            levels.append(ExtractionLayer(config, self.num_towers, in_dim,
                                          common_input=level == 0,
                                          shared_gate=level < self.params.levels - 1))
            in_dim = levels[-1].output_dim
        self.levels = nn.ModuleList(levels)
        self.heads = self.make_heads(in_dim)

    def _levels(self) -> list[ExtractionLayer]:
        return [cast(ExtractionLayer, level) for level in self.levels]

    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        features = self.inputs(numeric, categorical)
        task_inputs: list[torch.Tensor] = [features] * self.num_towers
        shared_input: torch.Tensor | None = features
        weights: list[torch.Tensor] = []
        shared_experts = features
        for level in self.levels:
            task_inputs, shared_input, weights, shared_experts = level(task_inputs, shared_input)
        return task_inputs, shared_representation(
            features, shared_experts, self.params.num_shared_experts,
            self.inputs.num_categorical > 0), weights

    def _task_gate_is_shared(self, level: int) -> bool:
        # Task t's gate output at level l feeds task t's experts at level l+1; those reach every
        # task only when level l+1 has a shared gate (it mixes all experts), i.e. l+1 is inner.
        return self.params.num_shared_experts > 0 and level + 1 < len(self.levels) - 1

    def shared_modules(self) -> list[nn.Module]:
        modules: list[nn.Module] = [self.inputs]
        for index, level in enumerate(self._levels()):
            modules.append(level.experts)
            if level.shared_gate is not None:
                modules.append(level.shared_gate)
            if self._task_gate_is_shared(index):
                modules.extend(level.task_gates)
        return modules

    def task_modules(self, index: int) -> list[nn.Module]:
        return [level.task_gates[index] for i, level in enumerate(self._levels())
                if not self._task_gate_is_shared(i)]

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return self._levels()[-1].experts.last_layer_parameters()
