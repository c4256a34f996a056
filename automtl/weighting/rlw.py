"""Random loss weighting, RLW (Lin, Ye, Xu, Shi & Zhang, "Reasonable Effectiveness of Random
Weighting: A Litmus Test for Multi-Task Learning", TMLR 2022).

Each batch draws fresh weights ``lambda = softmax(z)``, ``z ~ N(0, I)`` (``distribution=
"normal"``, the paper's default) or ``lambda ~ Dirichlet(concentration)`` (``"dirichlet"``),
over the labelled tasks, and backpropagates ``K' * sum_k lambda_k L_k`` (``K'`` labelled tasks:
the weights average 1, the scale of equal weighting). Draws come from a NumPy generator seeded
with the weighting's seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from automtl.weighting.base import Weighting, WeightingContext, weighted_backward
from automtl.weighting.params import RLWParams
from automtl.weighting.registry import register_weighting


@register_weighting("rlw")
class RLWWeighting(Weighting[RLWParams]):
    """Fresh random weights every batch."""

    Params = RLWParams

    def __init__(self, task_names: Sequence[str], params: RLWParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        self.rng = np.random.default_rng(self.seed)

    def manual_seed(self, seed: int) -> None:
        super().manual_seed(seed)
        self.rng = np.random.default_rng(seed)

    def draw(self, count: int) -> torch.Tensor:
        """``count`` weights on the simplex, times ``count``."""
        p: RLWParams = self.params
        if p.distribution == "normal":
            simplex = torch.softmax(torch.from_numpy(self.rng.standard_normal(count)), dim=0)
        else:
            simplex = torch.from_numpy(self.rng.dirichlet([p.concentration] * count))
        return count * simplex

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        present = self.present(context)
        active = [k for k, on in enumerate(present) if on]
        weights = torch.zeros(self.num_tasks, dtype=torch.float64)
        if active:
            weights[active] = self.draw(len(active))
        return weighted_backward(self, losses, weights, context)
