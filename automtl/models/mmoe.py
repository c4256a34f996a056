"""Multi-gate mixture of experts (MMoE, Ma et al. KDD 2018).

Shared experts, and one softmax gate per task that mixes them into that task's tower input.
The stacked expert outputs ``[B, E, D]`` are the shared representation.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from automtl.config import ModelConfig
from automtl.models.layers import Experts, Gate, mix_gates
from automtl.models.modular import ModularMTL, Representation
from automtl.models.params import MMoEParams
from automtl.models.registry import register_topology


@register_topology("mmoe", params=MMoEParams)
class MMoE(ModularMTL):
    """``num_shared_experts`` experts of ``expert_units``; a gate per task over all of them."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        params = cast("MMoEParams", config.params)
        self.inputs = self.make_input()
        in_dim = self.inputs.output_dim
        self.experts = Experts(params.num_shared_experts, in_dim, params.expert_units,
                               config.activation, config.dropout, config.normalization)
        self.gates = nn.ModuleList(
            Gate(in_dim, params.num_shared_experts, params.gate_kind, params.gate_units,
                 config.activation, params.gate_temperature)
            for _ in range(self.num_towers))
        self.heads = self.make_heads(self.experts.output_dim)

    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        features = self.inputs(numeric, categorical)                    # [B, in]
        experts = self.experts(features)                                # [B, E, D]
        weights = [gate(features) for gate in self.gates]               # T x [B, E]
        return mix_gates(weights, experts), experts, weights            # T x [B, D]

    def shared_modules(self) -> list[nn.Module]:
        return [self.inputs, self.experts]

    def task_modules(self, index: int) -> list[nn.Module]:
        return [self.gates[index]]

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return self.experts.last_layer_parameters()
