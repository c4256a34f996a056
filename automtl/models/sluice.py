"""Sluice networks (Ruder, Bingel, Augenstein & Soegaard, "Latent Multi-Task Architecture
Learning", AAAI 2019).

One column per task of ``layers`` hidden layers of ``units`` each (all columns of a layer are
one batched :class:`Experts`), reading one shared input layer ``[B, D0]``. After every layer,
each column's output ``[B, units]`` is split into ``subspaces`` equal parts ``[B, units / G]``
and all T G subspaces are mixed by a learned ``[T G, T G]`` matrix alpha:
``h'_(t,g) = sum_(s,h) alpha_(t,g),(s,h) h_(s,h)`` (cross-stitch generalised to subspaces).
Each task's tower reads a learned mixture of its column's mixed outputs over all layers,
``sum_l beta_(t,l) h'_(t,l)`` ``[B, units]`` (the layer-skip connections). Initialisation is
the authors' "imbalanced" one: alpha 0.9 on the diagonal and 0.1 spread over the rest of its
row, beta 0.9 on the last layer and 0.1 spread over the others. The stacked mixed outputs of
the last layer ``[B, T, units]`` are the shared representation.

The paper's subspace orthogonality constraint is the model's :meth:`penalty`:
``orthogonality * sum_(layer, task, g < h) ||G_g^T G_h||_F^2 / B^2``, with ``G_g`` ``[B,
units / G]`` subspace g of the task's layer output before the alpha mixing, on the latest
training batch (divided by B^2 so the weight does not depend on the batch size; 0 turns it
off).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from automtl.config import ModelConfig, TrainConfig
from automtl.models.layers import Experts
from automtl.models.modular import ModularMTL, ParameterHolder, Representation
from automtl.models.params import SluiceParams
from automtl.models.registry import register_topology

#: the imbalanced initialisation's weight on a subspace itself (alpha) / the last layer (beta)
SELF_WEIGHT = 0.9


def imbalanced(size: int) -> torch.Tensor:
    """``[size]`` weights: ``SELF_WEIGHT`` on the last, the rest spread evenly (1 if size 1)."""
    if size == 1:
        return torch.ones(1)
    weights = torch.full((size,), (1.0 - SELF_WEIGHT) / (size - 1))
    weights[-1] = SELF_WEIGHT
    return weights


def initial_alpha(size: int) -> torch.Tensor:
    """``[size, size]``: ``SELF_WEIGHT`` on the diagonal, the rest of each row spread evenly."""
    if size == 1:
        return torch.ones(1, 1)
    alpha = torch.full((size, size), (1.0 - SELF_WEIGHT) / (size - 1))
    alpha.fill_diagonal_(SELF_WEIGHT)
    return alpha


@register_topology("sluice", params=SluiceParams)
class Sluice(ModularMTL):
    """Per-task columns whose subspaces are mixed by alpha after every layer; beta mixes each
    column's layers for its tower."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        params = cast("SluiceParams", config.params)
        self.subspaces = params.subspaces
        self.inputs = self.make_input()
        in_dim = self.inputs.output_dim
        size = self.num_towers * params.subspaces
        self.columns = nn.ModuleList()
        self.alphas = nn.ParameterList()
        for _ in range(params.layers):
            self.columns.append(Experts(self.num_towers, in_dim, [params.units],
                                        config.activation, config.dropout,
                                        config.normalization))
            self.alphas.append(nn.Parameter(initial_alpha(size)))
            in_dim = params.units
        # expand + contiguous, not repeat: on the meta device (the parameter count at
        # sampling) torch's Python meta kernel of repeat imports sympy, 0.8 s of the driver
        beta = imbalanced(params.layers).unsqueeze(0).expand(self.num_towers, -1)
        self.beta = nn.Parameter(beta.contiguous())                          # [T, L]
        self.heads = self.make_heads(params.units)
        #: each layer's unmixed column outputs ``[B, T, U]`` of the latest training forward
        self._unmixed: list[torch.Tensor] = []

    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        hidden: torch.Tensor = self.inputs(numeric, categorical)               # [B, D0]
        layer_outputs, unmixed = [], []
        for column, alpha in zip(self.columns, self.alphas, strict=True):
            out = column(hidden)                                                # [B, T, U]
            unmixed.append(out)
            batch, tasks, units = out.shape
            parts = out.reshape(batch, tasks * self.subspaces, units // self.subspaces)
            mixed = torch.einsum("ij,bjd->bid", alpha, parts)                   # [B, T G, U/G]
            hidden = mixed.reshape(batch, tasks, units)                         # [B, T, U]
            layer_outputs.append(hidden)
        stacked = torch.stack(layer_outputs, dim=2)                             # [B, T, L, U]
        towers = torch.einsum("tl,btlu->btu", self.beta, stacked)              # [B, T, U]
        if self.training:
            self._unmixed = unmixed
        return list(towers.unbind(1)), hidden, []

    def orthogonality_penalty(self, unmixed: list[torch.Tensor]) -> torch.Tensor:
        """``sum_(layer, task, g < h) ||G_g^T G_h||_F^2 / B^2`` over layer outputs ``[B, T,
        U]`` (unweighted; a scalar)."""
        total = unmixed[0].new_zeros(())
        first, second = torch.triu_indices(self.subspaces, self.subspaces, offset=1)
        for out in unmixed:
            batch, tasks, units = out.shape
            parts = out.reshape(batch, tasks, self.subspaces, units // self.subspaces)
            gram = torch.einsum("btgd,bthe->tghde", parts, parts)       # [T, G, G, d, d]
            total = total + gram[:, first, second].pow(2).sum() / batch ** 2
        return total

    def penalty(self, train: TrainConfig) -> torch.Tensor | None:
        """``orthogonality`` times :meth:`orthogonality_penalty` of the latest training batch;
        ``None`` when the weight is 0, there is one subspace, or no training forward ran."""
        weight = cast("SluiceParams", self.config.params).orthogonality
        unmixed, self._unmixed = self._unmixed, []
        if weight <= 0 or self.subspaces < 2 or not unmixed:
            return None
        return weight * self.orthogonality_penalty(unmixed)

    def shared_modules(self) -> list[nn.Module]:
        return [self.inputs, self.columns, self.alphas, ParameterHolder(self.beta)]

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return cast(Experts, self.columns[-1]).last_layer_parameters()

