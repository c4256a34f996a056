"""Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019, "End-to-End Multi-Task Learning
with Attention").

``w_k(t) = K * softmax_k(r_k(t-1) / T)`` with ``r_k(t-1) = L_k(t-1) / L_k(t-2)``, the ratio of
task k's epoch-average training losses over the two previous epochs; the first two epochs use
equal weights (``w_k = 1``). A task whose ``L_k(t-2)`` is zero (no labelled rows in that epoch)
gets ratio 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from automtl.weighting.base import Weighting, WeightingContext, weighted_backward
from automtl.weighting.params import DWAParams
from automtl.weighting.registry import register_weighting


@register_weighting("dwa")
class DWAWeighting(Weighting[DWAParams]):
    """Weights from the rate of change of each task's epoch-average loss."""

    Params = DWAParams

    def __init__(self, task_names: Sequence[str], params: DWAParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        self.loss_history: list[list[float]] = []
        self.weights = [1.0] * self.num_tasks

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        return weighted_backward(self, losses, self.weights, context)

    def on_epoch_end(self, epoch: int, train_losses: Mapping[str, float],
                     valid_metrics: Mapping[str, Mapping[str, float]]) -> None:
        self.loss_history.append([float(train_losses[t]) for t in self.task_names])
        self.loss_history = self.loss_history[-2:]
        if len(self.loss_history) == 2:
            self.weights = dwa_weights(self.loss_history[0], self.loss_history[1],
                                       self.params.temperature)


def dwa_weights(before: Sequence[float], last: Sequence[float], temperature: float) -> list[float]:
    """``K * softmax(r / T)`` with ``r_k = last_k / before_k`` (1 where ``before_k`` is 0)."""
    prev = torch.tensor(before, dtype=torch.float64)
    ratios = torch.where(prev > 0, torch.tensor(last, dtype=torch.float64) / prev.clamp_min(1e-300),
                         torch.ones_like(prev))
    return (len(before) * torch.softmax(ratios / temperature, dim=0)).tolist()
