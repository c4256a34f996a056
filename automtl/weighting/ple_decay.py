"""The PLE paper's loss-weight schedule (Tang et al., RecSys 2020, section 5.3):
``w_k(t) = w_k,0 * gamma_k^t`` at epoch t (0-based), so a task's weight decays (gamma < 1) or
grows (gamma > 1) as training goes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from automtl.weighting.base import Weighting, WeightingContext, weighted_backward
from automtl.weighting.params import PLEDecayParams
from automtl.weighting.registry import register_weighting


def _per_task(name: str, value: Mapping[str, float], tasks: Sequence[str]) -> list[float]:
    unknown = sorted(set(value) - set(tasks))
    missing = [t for t in tasks if t not in value]
    if unknown or missing:
        raise ValueError(f"weighting 'ple_decay': params.{name} must name every task exactly; "
                         f"unknown {unknown}, missing {missing}")
    return [float(value[t]) for t in tasks]


@register_weighting("ple_decay")
class PLEDecayWeighting(Weighting[PLEDecayParams]):
    """Per-task exponentially scheduled weights."""

    Params = PLEDecayParams

    def __init__(self, task_names: Sequence[str], params: PLEDecayParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        p: PLEDecayParams = self.params
        self.initial_weights = [1.0] * self.num_tasks if p.initial_weights is None else \
            _per_task("initial_weights", p.initial_weights, self.task_names)
        self.gammas = [float(p.gamma)] * self.num_tasks if not isinstance(p.gamma, dict) else \
            _per_task("gamma", p.gamma, self.task_names)
        if any(not g > 0 for g in self.gammas):
            raise ValueError("weighting 'ple_decay': params.gamma must be > 0")
        if any(not w >= 0 for w in self.initial_weights):
            raise ValueError("weighting 'ple_decay': params.initial_weights must be >= 0")

    def weights_at(self, epoch: int) -> list[float]:
        return [w * g ** epoch for w, g in zip(self.initial_weights, self.gammas, strict=True)]

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        return weighted_backward(self, losses, self.weights_at(context.epoch), context)
