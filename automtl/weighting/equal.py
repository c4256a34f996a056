"""Equal weighting: the plain sum of the task losses (every w_k = 1)."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from automtl.weighting.base import Weighting, WeightingContext, weighted_backward
from automtl.weighting.params import WeightingParams
from automtl.weighting.registry import register_weighting


@register_weighting("equal")
class EqualWeighting(Weighting[WeightingParams]):
    """``sum_k L_k``; the baseline every other strategy is compared with."""

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        return weighted_backward(self, losses, [1.0] * self.num_tasks, context)
