"""One-gate mixture of experts (OMoE, the baseline of Ma et al. KDD 2018).

Every task reads the same gated mixture of the shared experts, so the mixture itself is the
shared representation and the gate is a shared module.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from automtl.config import ModelConfig
from automtl.models.layers import Experts, Gate, mix
from automtl.models.modular import ModularMTL, Representation
from automtl.models.params import MMoEParams
from automtl.models.registry import register_topology


@register_topology("omoe", params=MMoEParams)
class OMoE(ModularMTL):
    """``num_shared_experts`` experts of ``expert_units`` mixed by one softmax gate."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        params = cast("MMoEParams", config.params)
        self.inputs = self.make_input()
        in_dim = self.inputs.output_dim
        self.experts = Experts(params.num_shared_experts, in_dim, params.expert_units,
                               config.activation, config.dropout, config.normalization)
        self.gate = Gate(in_dim, params.num_shared_experts, params.gate_kind, params.gate_units,
                         config.activation, params.gate_temperature)
        self.heads = self.make_heads(self.experts.output_dim)

    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        features = self.inputs(numeric, categorical)
        weights = self.gate(features)
        mixture = mix(weights, self.experts(features))
        return [mixture] * self.num_towers, mixture, [weights] * self.num_towers

    def shared_modules(self) -> list[nn.Module]:
        return [self.inputs, self.experts, self.gate]

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return self.experts.last_layer_parameters()
