"""AdaTT: adaptive task-to-task fusion (Li et al., "AdaTT: Adaptive Task-to-Task Fusion Network
for Multitask Learning in Recommendations", KDD 2023), the variant with shared experts.

Every level has ``num_task_experts`` (K) experts per task and ``num_shared_experts`` (S) shared
ones, all MLPs of ``expert_units`` in one batched :class:`Experts`, ordered ``[task 0's K, ...,
task T-1's K, S shared]`` (E = T K + S experts, each output ``[B, D]``). Task t's fusion unit
mixes ALL E experts (the adaptive task-to-task part: task t can draw on every other task's
experts) with a softmax gate reading task t's input, and adds a residual linear combination of
its own K experts::

    f_t = sum_j g_tj(x_t) E_j(.) + sum_k v_tk E_tk(x_t)        [B, D]

with ``v_t`` a learned vector of K weights (a fixed 1 when K = 1, as in the authors' code).
Stacked in ``levels``: at level l > 0 task t's experts and gate read ``f_t`` of level l-1, and
the shared experts read the shared fusion unit's output, a gate over all E experts plus the
shared experts' own linear combination, which only inner levels have (the last level feeds the
towers). Level 0's experts and gates read the input features ``[B, D0]``. The last level's
expert outputs ``[B, E, D]`` are the shared representation; :meth:`gate_weights` are the last
level's task gates ``[B, E]``. With K = 0 there is no residual and AdaTT is a stacked MMoE
whose gates read the previous level's task outputs.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

from automtl.config import ModelConfig
from automtl.models.layers import Experts, Gate
from automtl.models.modular import ModularMTL, ParameterHolder, Representation
from automtl.models.params import AdaTTParams
from automtl.models.registry import register_topology


def native_weights(count: int) -> nn.Parameter:
    """A unit's residual weights over its ``count`` own experts, U(-sqrt(1/count), +)."""
    bound = math.sqrt(1.0 / count)
    return nn.Parameter(torch.empty(count).uniform_(-bound, bound))


class FusionLevel(nn.Module):
    """One AdaTT level: E = T K + S experts, one fusion unit per task, and (inner levels with
    shared experts) the shared fusion unit.

    ``forward`` takes T task inputs ``[B, in]`` and the shared input ``[B, in]`` (``None``
    without shared experts; ``common_input``: the first level, where all are the features)
    and returns (T fused task outputs ``[B, D]``, the shared unit's output or ``None``, the
    task gates' weights ``[B, E]``, the expert outputs ``[B, E, D]``).
    """

    def __init__(self, config: ModelConfig, num_tasks: int, in_dim: int, common_input: bool,
                 shared_unit: bool) -> None:
        super().__init__()
        params = cast("AdaTTParams", config.params)
        self.num_tasks = num_tasks
        self.common_input = common_input
        self.k, self.s = params.num_task_experts, params.num_shared_experts
        total = num_tasks * self.k + self.s
        self.experts = Experts(total, in_dim, params.expert_units, config.activation,
                               config.dropout, config.normalization)

        def gate() -> Gate:
            return Gate(in_dim, total, params.gate_kind, params.gate_units, config.activation,
                        params.gate_temperature)

        self.task_gates = nn.ModuleList(gate() for _ in range(num_tasks))
        self.shared_gate = gate() if shared_unit and self.s > 0 else None
        # residual weights over a unit's own experts: learned when it has several, else 1
        self.task_native = nn.ParameterList(
            native_weights(self.k) for _ in range(num_tasks)) if self.k > 1 else None
        self.shared_native = native_weights(self.s) \
            if self.shared_gate is not None and self.s > 1 else None
        self.output_dim = self.experts.output_dim

    def expert_inputs(self, task_inputs: list[torch.Tensor],
                      shared_input: torch.Tensor | None) -> torch.Tensor:
        """``[B, E, in]``: each expert reads its unit's input (task t's or the shared one);
        ``[B, in]`` at the first level, where every unit reads the input features."""
        if self.common_input:
            return task_inputs[0]
        groups = [x.unsqueeze(1).expand(-1, self.k, -1) for x in task_inputs] if self.k else []
        if self.s:
            assert shared_input is not None, "shared experts need a shared input"
            groups.append(shared_input.unsqueeze(1).expand(-1, self.s, -1))
        return torch.cat(groups, dim=1)

    def forward(self, task_inputs: list[torch.Tensor], shared_input: torch.Tensor | None
                ) -> tuple[list[torch.Tensor], torch.Tensor | None, list[torch.Tensor],
                           torch.Tensor]:
        experts = self.experts(self.expert_inputs(task_inputs, shared_input))  # [B, E, D]
        k = self.k
        outputs, weights = [], []
        for t, gate in enumerate(self.task_gates):
            w = gate(task_inputs[t])                                            # [B, E]
            fused = torch.einsum("be,bed->bd", w, experts)                      # [B, D]
            if k == 1:
                fused = fused + experts[:, t]
            elif k > 1:
                assert self.task_native is not None
                fused = fused + torch.einsum("k,bkd->bd", self.task_native[t],
                                             experts[:, t * k:(t + 1) * k])
            weights.append(w)
            outputs.append(fused)
        shared_out = None
        if self.shared_gate is not None:
            assert shared_input is not None, "the shared unit needs a shared input"
            own = experts[:, self.num_tasks * k:]                               # [B, S, D]
            shared_out = torch.einsum("be,bed->bd", self.shared_gate(shared_input), experts)
            if self.shared_native is None:
                shared_out = shared_out + own[:, 0]
            else:
                shared_out = shared_out + torch.einsum("s,bsd->bd", self.shared_native, own)
        return outputs, shared_out, weights, experts


@register_topology("adatt", params=AdaTTParams)
class AdaTT(ModularMTL):
    """``levels`` fusion levels; the last level's task fusion outputs feed the towers."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.params = cast("AdaTTParams", config.params)
        self.inputs = self.make_input()
        in_dim = self.inputs.output_dim
        levels = []
        for level in range(self.params.levels):
            levels.append(FusionLevel(config, self.num_towers, in_dim, common_input=level == 0,
                                      shared_unit=level < self.params.levels - 1))
            in_dim = levels[-1].output_dim
        self.levels = nn.ModuleList(levels)
        self.heads = self.make_heads(in_dim)

    def _levels(self) -> list[FusionLevel]:
        return [cast(FusionLevel, level) for level in self.levels]

    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        features = self.inputs(numeric, categorical)                            # [B, D0]
        task_inputs: list[torch.Tensor] = [features] * self.num_towers
        shared_input: torch.Tensor | None = features
        weights: list[torch.Tensor] = []
        experts = features
        for level in self.levels:
            task_inputs, shared_input, weights, experts = level(task_inputs, shared_input)
        return task_inputs, experts, weights

    def shared_modules(self) -> list[nn.Module]:
        # An inner level's task unit t feeds task t's experts of the next level, which every
        # task's gate fuses: with task experts it is shared; without, only task t reads it.
        modules: list[nn.Module] = [self.inputs]
        levels = self._levels()
        for index, level in enumerate(levels):
            modules.append(level.experts)
            if index < len(levels) - 1:
                if level.shared_gate is not None:
                    modules.append(level.shared_gate)
                if level.shared_native is not None:
                    modules.append(ParameterHolder(level.shared_native))
                if self.params.num_task_experts > 0:
                    modules.extend(level.task_gates)
                    if level.task_native is not None:
                        modules.append(level.task_native)
        return modules

    def task_modules(self, index: int) -> list[nn.Module]:
        levels = self._levels()
        modules: list[nn.Module] = []
        for position, level in enumerate(levels):
            if position < len(levels) - 1 and self.params.num_task_experts > 0:
                continue
            modules.append(level.task_gates[index])
            if level.task_native is not None and position == len(levels) - 1:
                modules.append(ParameterHolder(level.task_native[index]))
        return modules

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return self._levels()[-1].experts.last_layer_parameters()

