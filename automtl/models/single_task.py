"""Single-task baseline: one independent network per task, embeddings included.

Every multi-task gain is measured against this: nothing is shared, so the shared
representation is ``None`` and the shared parameters are only those an ESMM product task
reaches through its factor tasks.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from automtl.config import ModelConfig
from automtl.models.layers import MLP, InputLayer
from automtl.models.modular import ModularMTL, Representation
from automtl.models.params import BottomParams
from automtl.models.registry import register_topology


class _Column(nn.Module):
    """One task's own input layer and bottom MLP."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        params = cast("BottomParams", config.params)
        self.inputs = InputLayer(config.inputs, config.embedding_dim)
        self.bottom = MLP(self.inputs.output_dim, params.bottom_units, config.activation,
                          config.dropout)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        return self.bottom(self.inputs(numeric, categorical))


@register_topology("single_task", params=BottomParams)
class SingleTask(ModularMTL):
    """``bottom_units`` MLP and a tower per task, each with its own embeddings."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        columns = [_Column(config) for _ in range(self.num_towers)]
        self.columns = nn.ModuleList(columns)
        self.heads = self.make_heads(columns[0].bottom.output_dim)

    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        return [column(numeric, categorical) for column in self.columns], None, []

    def shared_modules(self) -> list[nn.Module]:
        return []

    def task_modules(self, index: int) -> list[nn.Module]:
        return [self.columns[index]]
