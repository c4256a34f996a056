"""Dynamic Task Prioritization (Guo, Haque, Huang, Yeung & Fei-Fei, ECCV 2018).

Each task gets the focal-style priority ``w_k = -(1 - kappa_k)^gamma * log(kappa_k)`` from a
key performance indicator ``kappa_k`` in [0, 1]: the harder a task currently is (low KPI), the
larger its weight. The KPI is the running (exponentially smoothed, factor ``smoothing``)
validation metric, updated at each epoch end:

- binary tasks: the validation AUC;
- regression tasks: ``clip(r2, 0, 1)`` (``regression_kpi="r2"``) or ``exp(-mse)``
  (``regression_kpi="exp_mse"``).

The task type is read from the TaskSpecs when given, else from the metrics present (``auc`` ->
binary, ``r2`` -> regression). KPIs are clamped to [1e-4, 1 - 1e-4] so that every weight is
finite and positive; with ``normalize`` the weights are rescaled to sum to the task count
(the raw priorities are small, e.g. 0.045 at an AUC of 0.8 with gamma 1). Until the first
validation result every weight is 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from pydantic import Field

from automtl.weighting.base import Weighting, WeightingContext, WeightingParams, weighted_backward
from automtl.weighting.registry import register_weighting

KPI_EPS = 1e-4


class DTPParams(WeightingParams):
    gamma: float = Field(1.0, ge=0.0, description="focusing parameter")
    smoothing: float = Field(0.5, gt=0.0, le=1.0,
                             description="weight of the newest KPI in the running average")
    regression_kpi: Literal["r2", "exp_mse"] = "r2"
    normalize: bool = True


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


@register_weighting("dtp")
class DTPWeighting(Weighting[DTPParams]):
    """Focal-loss-style task priorities from the running validation KPI."""

    Params = DTPParams

    def __init__(self, task_names: Sequence[str], params: DTPParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        self.kpis: dict[str, float] = {}
        self.weights = [1.0] * self.num_tasks

    def kpi(self, task: str, metrics: Mapping[str, float]) -> float:
        """The KPI of one task from its validation metrics."""
        p: DTPParams = self.params
        kind = self.task_types[task] if self.task_types else \
            "binary" if "auc" in metrics else "regression" if "r2" in metrics else None
        if kind == "binary":
            return float(metrics["auc"])
        if kind == "regression":
            if p.regression_kpi == "r2":
                return min(max(float(metrics["r2"]), 0.0), 1.0)
            return math.exp(-float(metrics["mse"]))
        raise ValueError(f"weighting 'dtp': task {task!r} has neither 'auc' nor 'r2' among its "
                         f"validation metrics {sorted(metrics)}")

    def on_epoch_end(self, epoch: int, train_losses: Mapping[str, float],
                     valid_metrics: Mapping[str, Mapping[str, float]]) -> None:
        p: DTPParams = self.params
        for task in self.task_names:
            if task not in valid_metrics:
                raise KeyError(f"weighting 'dtp': no validation metrics for task {task!r}")
            value = self.kpi(task, valid_metrics[task])
            if not math.isfinite(value):
                continue  # e.g. AUC undefined on a one-class split: keep the previous KPI
            previous = self.kpis.get(task)
            self.kpis[task] = value if previous is None else \
                p.smoothing * value + (1.0 - p.smoothing) * previous
        if len(self.kpis) == self.num_tasks:
            self.weights = dtp_weights([self.kpis[t] for t in self.task_names], p.gamma,
                                       p.normalize)

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        return weighted_backward(self, losses, self.weights, context)
