"""L2-constrained columns (Duong, Cohn, Bird & Cook, "Low Resource Dependency Parsing:
Cross-lingual Parameter Sharing in a Neural Network Parser", ACL 2015; the MMoE paper's
"L2-Constrained" baseline, Ma et al. KDD 2018).

One column per task, as in ``single_task``: its own input layer (categorical embeddings)
``[B, D0]`` and an MLP of ``bottom_units`` ``[B, D]`` (all columns of a layer are one batched
:class:`Experts`), read by the task's tower. Nothing is shared in the forward pass; the
columns are tied by a soft constraint instead, the model's :meth:`penalty`::

    penalty_weight * sum_(s < t) || theta_s - theta_t ||^2

over every pair of columns, ``theta`` being a column's embedding tables and its layers'
weights and biases (normalisation parameters are not tied). ``penalty_weight`` 0 gives
independent columns (``single_task`` with the same parameter count); a large one pulls the
columns together, towards a shared bottom. The stacked column outputs ``[B, T, D]`` are the
shared representation (each task reaches only its own slice).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from automtl.config import ModelConfig, TrainConfig
from automtl.models.layers import Experts, InputLayer
from automtl.models.modular import ModularMTL, Representation
from automtl.models.params import L2ConstrainedParams
from automtl.models.registry import register_topology


def pairwise_squared_distance(stacked: torch.Tensor) -> torch.Tensor:
    """``sum_(s < t) ||x_s - x_t||^2`` for ``stacked`` ``[T, ...]`` (T columns); a scalar,
    exactly 0 for equal columns (differences are taken pair by pair: the shortcut
    ``T sum ||x_t||^2 - ||sum x_t||^2`` cancels to rounding noise there)."""
    count = stacked.shape[0]
    first, second = torch.triu_indices(count, count, offset=1, device=stacked.device)
    flat = stacked.reshape(count, -1)
    return (flat[first] - flat[second]).pow(2).sum()


@register_topology("l2_constrained", params=L2ConstrainedParams)
class L2Constrained(ModularMTL):
    """A ``bottom_units`` column per task with its own input layer, tied by an L2 penalty."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        params = cast("L2ConstrainedParams", config.params)
        self.inputs = nn.ModuleList(self.make_input() for _ in range(self.num_towers))
        in_dim = cast(InputLayer, self.inputs[0]).output_dim
        self.columns = Experts(self.num_towers, in_dim, params.bottom_units, config.activation,
                               config.dropout, config.normalization)
        self.heads = self.make_heads(self.columns.output_dim)

    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        features = torch.stack([layer(numeric, categorical) for layer in self.inputs],
                               dim=1)                                           # [B, T, D0]
        hidden = self.columns(features)                                         # [B, T, D]
        return list(hidden.unbind(1)), hidden, []

    def tied_parameters(self) -> list[torch.Tensor]:
        """Each tied parameter stacked over the columns, ``[T, ...]``: the embedding table
        (every categorical feature's rows) and every layer's weights and biases."""
        tables = [cast(InputLayer, layer).embeddings for layer in self.inputs]
        tied = [torch.stack([table.weight for table in tables if table is not None])] \
            if tables[0] is not None else []
        return tied + list(self.columns.weights) + list(self.columns.biases)

    def distance(self) -> torch.Tensor:
        """``sum_(s < t) ||theta_s - theta_t||^2`` over the tied parameters (differentiable)."""
        return torch.stack([pairwise_squared_distance(p) for p in self.tied_parameters()]).sum()

    def penalty(self, train: TrainConfig) -> torch.Tensor | None:
        """``penalty_weight`` times :meth:`distance`; ``None`` for weight 0 or one column."""
        weight = cast("L2ConstrainedParams", self.config.params).penalty_weight
        if weight <= 0 or self.num_towers < 2:
            return None
        return weight * self.distance()

    def shared_modules(self) -> list[nn.Module]:
        # one batched tensor holds every column's layer: it is reached by every task
        return [self.columns]

    def task_modules(self, index: int) -> list[nn.Module]:
        return [self.inputs[index]]

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return self.columns.last_layer_parameters()
