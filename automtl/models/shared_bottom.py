"""Shared-bottom hard parameter sharing (Caruana 1997): one bottom MLP, a tower per task."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from automtl.config import ModelConfig
from automtl.models.layers import MLP
from automtl.models.modular import ModularMTL, Representation
from automtl.models.params import BottomParams
from automtl.models.registry import register_topology


@register_topology("shared_bottom", params=BottomParams)
class SharedBottom(ModularMTL):
    """Input layer and ``bottom_units`` MLP shared by every task; the bottom output is the
    shared representation and its last linear layer the last shared layer."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        params = cast("BottomParams", config.params)
        self.inputs = self.make_input()
        self.bottom = MLP(self.inputs.output_dim, params.bottom_units, config.activation,
                          config.dropout)
        self.heads = self.make_heads(self.bottom.output_dim)

    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        shared = self.bottom(self.inputs(numeric, categorical))
        return [shared] * self.num_towers, shared, []

    def shared_modules(self) -> list[nn.Module]:
        return [self.inputs, self.bottom]

    def last_shared_parameters(self) -> list[nn.Parameter]:
        last_linear = [m for m in self.bottom if isinstance(m, nn.Linear)][-1]
        return list(last_linear.parameters())
