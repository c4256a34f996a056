"""Multi-level MMoE (ML-MMoE, the stacked-MMoE baseline of Tang et al. RecSys 2020, PLE).

``levels`` MMoE layers of ``num_shared_experts`` shared experts each. At an inner level, every
expert of the next level reads its own gated mixture of this level's experts; at the last level,
every task's tower reads its own gated mixture, exactly as in MMoE (Ma et al. KDD 2018). Every
gate reads the input features (as MMoE's gates do). With ``levels=1`` the network is MMoE, with
the same parameters. The last level's expert outputs ``[B, E, D]`` are the shared representation.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from automtl.config import ModelConfig
from automtl.models.layers import Experts, Gate
from automtl.models.modular import ModularMTL, Representation
from automtl.models.params import MLMMoEParams
from automtl.models.registry import register_topology


@register_topology("ml_mmoe", params=MLMMoEParams)
class MultiLevelMMoE(ModularMTL):
    """``levels`` x ``num_shared_experts`` experts; inner gates feed the next level's experts,
    the last level's gates (one per task) feed the towers."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        params = cast("MLMMoEParams", config.params)
        self.inputs = self.make_input()
        features_dim = in_dim = self.inputs.output_dim
        count = params.num_shared_experts
        experts, gates = [], []
        for level in range(params.levels):
            consumers = count if level < params.levels - 1 else self.num_towers
            experts.append(Experts(count, in_dim, params.expert_units, config.activation,
                                   config.dropout, config.normalization))
            gates.append(nn.ModuleList(
                Gate(features_dim, count, params.gate_kind, params.gate_units,
                     config.activation, params.gate_temperature)
                for _ in range(consumers)))
            in_dim = experts[-1].output_dim
        self.experts = nn.ModuleList(experts)
        self.gates = nn.ModuleList(gates)
        self.heads = self.make_heads(in_dim)

    def _levels(self) -> list[tuple[Experts, nn.ModuleList]]:
        return [(cast(Experts, e), cast(nn.ModuleList, g))
                for e, g in zip(self.experts, self.gates, strict=True)]

    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        features = self.inputs(numeric, categorical)  # [B, D0]
        hidden = features  # [B, D0], then [B, E, D] per-expert inputs
        expert_out = features
        weights: list[torch.Tensor] = []
        for experts, gates in self._levels():
            expert_out = experts(hidden)  # [B, E, D]
            weights = [gate(features) for gate in gates]  # each [B, E]
            # every consumer's mixture in one batched matmul
            hidden = torch.bmm(torch.stack(weights, dim=1), expert_out)  # [B, consumers, D]
            mixtures = list(hidden.unbind(1))  # each [B, D]
        return mixtures, expert_out, weights

    def shared_modules(self) -> list[nn.Module]:
        levels = self._levels()
        modules: list[nn.Module] = [self.inputs]
        for index, (experts, gates) in enumerate(levels):
            modules.append(experts)
            if index < len(levels) - 1:
                modules.append(gates)  # inner gates feed shared experts
        return modules

    def task_modules(self, index: int) -> list[nn.Module]:
        return [self._levels()[-1][1][index]]

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return self._levels()[-1][0].last_layer_parameters()
