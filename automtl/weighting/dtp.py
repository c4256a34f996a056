"""Dynamic Task Prioritization (Guo, Haque, Huang, Yeung & Fei-Fei, ECCV 2018).

Each task gets the focal-style priority ``w_k = -(1 - kappa_k)^gamma * log(kappa_k)`` from a
key performance indicator ``kappa_k`` in [0, 1]: the harder a task currently is (low KPI), the
larger its weight. As in the paper, the KPI is a moving average over training iterations,
``kappa_k <- smoothing * kpi_k(batch) + (1 - smoothing) * kappa_k``, of a training-side
measure, never of the validation split (which judges the trial and must not steer its
training weights). The per-batch measure comes from the task's own training loss ``L_k``:

- binary and multiclass tasks: ``exp(-L_k)`` with ``L_k`` the mean log loss (cross-entropy),
  the geometric mean of the probabilities given to the true labels (1 for a perfect model,
  0.5 for a coin, 1/C for a uniform guess over C classes);
- regression tasks: ``exp(-L_k)`` with ``L_k`` the mean squared error (1 for a perfect fit).

The weights used for a batch come from the KPIs of the batches before it (every weight is 1
on the first batch); a task without labelled rows in a batch (or a non-finite loss) keeps its
KPI and gets weight 0 in that batch. KPIs are clamped to [1e-4, 1 - 1e-4] so that every
weight is finite and positive; with ``normalize`` the weights are rescaled to sum to the task
count (raw priorities are small, e.g. 0.045 at a KPI of 0.8 with gamma 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from automtl.weighting.base import Weighting, WeightingContext, weighted_backward
from automtl.weighting.params import DTPParams
from automtl.weighting.registry import register_weighting

KPI_EPS = 1e-4


def dtp_weights(kpis: Sequence[float], gamma: float, normalize: bool) -> list[float]:
    """``-(1 - kappa)^gamma * log(kappa)`` per task, optionally rescaled to sum to K."""
    weights = []
    for kpi in kpis:
        kappa = min(max(kpi, KPI_EPS), 1.0 - KPI_EPS)
        weights.append(-((1.0 - kappa) ** gamma) * math.log(kappa))
    if normalize:
        total = sum(weights)
        weights = [len(weights) * w / total for w in weights]
    return weights


def batch_kpi(loss: float) -> float:
    """The training-side KPI of one batch from its task loss: ``exp(-loss)`` in (0, 1]."""
    return math.exp(-max(loss, 0.0))


@register_weighting("dtp")
class DTPWeighting(Weighting[DTPParams]):
    """Focal-loss-style task priorities from a moving average of a training-side KPI."""

    Params = DTPParams

    def __init__(self, task_names: Sequence[str], params: DTPParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        self.kpis: dict[str, float] = {}
        self.weights = [1.0] * self.num_tasks

    def update_kpis(self, losses: Mapping[str, float]) -> None:
        """Fold one batch's task losses into the moving-average KPIs and recompute weights."""
        p: DTPParams = self.params
        for task in self.task_names:
            loss = float(losses[task])
            if not math.isfinite(loss):
                continue  # no labelled rows of this task in the batch: keep its KPI
            value = batch_kpi(loss)
            previous = self.kpis.get(task)
            self.kpis[task] = value if previous is None else \
                p.smoothing * value + (1.0 - p.smoothing) * previous
        if len(self.kpis) == self.num_tasks:
            self.weights = dtp_weights([self.kpis[t] for t in self.task_names], p.gamma,
                                       p.normalize)

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        used = weighted_backward(self, losses, self.weights, context)
        present = self.present(context)  # a task without labelled rows keeps its KPI
        self.update_kpis({t: float(losses[t].detach()) if ok else math.nan
                          for t, ok in zip(self.task_names, present, strict=True)})
        return used
