"""Gradient sign dropout, GradDrop (Chen, Ngiam, Huang, Luong, Kretzschmar, Chai & Anguelov,
"Just Pick a Sign: Optimizing Deep Multitask Models with Gradient Sign Dropout", NeurIPS 2020).

Per coordinate of the shared gradient, the sign purity ``P = 1/2 (1 + sum_k g_k / sum_k |g_k|)``
is compared with ``U ~ Uniform(0, 1)``: if ``P > U`` only the positive task gradients are kept
there, else only the negative ones; the kept ones are summed. Coordinates where every task
agrees in sign keep everything. The paper applies it at the shared activations
(``grad_on="representation"``, the default here), where the gradients are first summed over the
batch so one mask covers the batch; ``"parameters"`` applies it per parameter. ``U`` comes from
a generator seeded with the weighting's seed. The update is not a weighted sum: every reported
weight is 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from automtl.weighting.base import WeightingContext
from automtl.weighting.gradient import Combination, GradientWeighting
from automtl.weighting.params import GradDropParams
from automtl.weighting.registry import register_weighting


def graddrop_direction(grads: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """The summed kept gradients [P] from ``grads`` [K, P] and ``U`` [P] (or [F] broadcast
    over a leading batch axis, see :class:`GradDropWeighting`)."""
    purity = 0.5 * (1.0 + grads.sum(0) / grads.abs().sum(0).clamp_min(1e-20))
    keep_positive = (purity > uniform).unsqueeze(0)
    mask = torch.where(keep_positive, grads > 0, grads < 0)
    return (grads * mask).sum(0)


@register_weighting("graddrop")
class GradDropWeighting(GradientWeighting[GradDropParams]):
    """Per-coordinate sign selection, in proportion to the sign purity."""

    Params = GradDropParams

    def __init__(self, task_names: Sequence[str], params: GradDropParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.batch_shape: torch.Size | None = None

    def manual_seed(self, seed: int) -> None:
        super().manual_seed(seed)
        self.generator.manual_seed(seed)

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        rep = context.shared_representation
        self.batch_shape = rep.shape if self.grad_on == "representation" and rep is not None \
            and rep.dim() >= 2 else None
        return super().backward(losses, context)

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        ones = torch.ones(grads.shape[0])
        if self.batch_shape is not None:  # [K, B * F] -> purity of the batch-summed gradient
            per_row = grads.reshape(grads.shape[0], self.batch_shape[0], -1)
            summed = per_row.sum(1)  # [K, F]
            uniform = torch.rand(summed.shape[1], generator=self.generator).to(grads.device)
            purity = 0.5 * (1.0 + summed.sum(0) / summed.abs().sum(0).clamp_min(1e-20))
            keep_positive = (purity > uniform).view(1, 1, -1)  # [1, 1, F]
            mask = torch.where(keep_positive, summed.unsqueeze(1) > 0, summed.unsqueeze(1) < 0)
            return Combination(ones, (per_row * mask).sum(0).reshape(-1))
        uniform = torch.rand(grads.shape[1], generator=self.generator).to(grads.device)
        return Combination(ones, graddrop_direction(grads, uniform))
