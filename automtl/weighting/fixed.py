"""Fixed weighting: user-given constant weights per task."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from automtl.weighting.base import Weighting, WeightingContext, weighted_backward
from automtl.weighting.params import FixedParams
from automtl.weighting.registry import register_weighting


@register_weighting("fixed")
class FixedWeighting(Weighting[FixedParams]):
    """``sum_k w_k L_k`` with constant ``w_k``; every task must be named, and only tasks."""

    Params = FixedParams

    def __init__(self, task_names: Sequence[str], params: FixedParams | None = None,
                 **kwargs: Any) -> None:
        if params is None:
            raise ValueError("weighting 'fixed': params.weights is required")
        super().__init__(task_names, params, **kwargs)
        given = params.weights
        unknown = sorted(set(given) - set(self.task_names))
        missing = [t for t in self.task_names if t not in given]
        if unknown:
            raise ValueError(f"weighting 'fixed': params.weights names unknown task(s) {unknown}; "
                             f"tasks: {self.task_names}")
        if missing:
            raise ValueError(f"weighting 'fixed': params.weights lacks task(s) {missing}")
        negative = sorted(t for t, w in given.items() if not (math.isfinite(w) and w >= 0.0))
        if negative:
            raise ValueError("weighting 'fixed': params.weights must be finite and >= 0 for "
                             f"{negative}")
        self.weights = [float(given[t]) for t in self.task_names]

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        return weighted_backward(self, losses, self.weights, context)
