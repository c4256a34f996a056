"""Cross-stitch networks (Misra, Shrivastava, Gupta & Hebert, CVPR 2016).

One column of ``bottom_units`` layers per task (all columns of a layer are one batched
:class:`Experts`); after each layer the columns are mixed by a learned ``[T, T]`` matrix alpha,
``h'_t = sum_s alpha_ts h_s``, initialised near identity (0.9 on the diagonal, 0.1 / (T - 1)
elsewhere) so training starts close to independent columns.

As in the paper, the columns are separate networks joined only by the stitch units: each
column has its own input layer (its own categorical embeddings). ``share_embeddings`` (in
:class:`CrossStitchParams`) gives all columns one input layer instead (fewer parameters, and the
embeddings then learn from every task directly).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from automtl.config import ModelConfig
from automtl.models.layers import Experts, InputLayer
from automtl.models.modular import ModularMTL, Representation
from automtl.models.params import CrossStitchParams
from automtl.models.registry import register_topology

SELF_WEIGHT = 0.9


def initial_stitch(num_tasks: int) -> torch.Tensor:
    """``SELF_WEIGHT`` on the diagonal, the rest spread evenly over the other columns."""
    if num_tasks == 1:
        return torch.ones(1, 1)
    other = (1.0 - SELF_WEIGHT) / (num_tasks - 1)
    alpha = torch.full((num_tasks, num_tasks), other)
    alpha.fill_diagonal_(SELF_WEIGHT)
    return alpha


@register_topology("cross_stitch", params=CrossStitchParams)
class CrossStitch(ModularMTL):
    """Per-task columns mixed by a cross-stitch unit after every layer."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        params = cast("CrossStitchParams", config.params)
        self.share_embeddings = params.share_embeddings
        count = 1 if self.share_embeddings else self.num_towers
        self.inputs = nn.ModuleList(self.make_input() for _ in range(count))
        in_dim = cast(InputLayer, self.inputs[0]).output_dim
        self.columns = nn.ModuleList()
        self.stitches = nn.ParameterList()
        for width in params.bottom_units:
            self.columns.append(Experts(self.num_towers, in_dim, [width], config.activation,
                                        config.dropout, config.normalization))
            self.stitches.append(nn.Parameter(initial_stitch(self.num_towers)))
            in_dim = width
        self.heads = self.make_heads(in_dim)

    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        if self.share_embeddings:
            hidden = self.inputs[0](numeric, categorical)                     # [B, in]
        else:  # each column its own input layer
            hidden = torch.stack([layer(numeric, categorical) for layer in self.inputs],
                                 dim=1)                                         # [B, T, in]
        unstitched = hidden
        for column, alpha in zip(self.columns, self.stitches, strict=True):
            unstitched = column(hidden)                                     # [B, T, D]
            hidden = torch.einsum("ts,bsd->btd", alpha, unstitched)         # [B, T, D]
        return list(hidden.unbind(1)), unstitched, []

    def shared_modules(self) -> list[nn.Module]:
        return [self.inputs, self.columns, self.stitches]

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return cast(Experts, self.columns[-1]).last_layer_parameters()
