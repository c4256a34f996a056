"""Per-task evaluation metrics (scikit-learn), computed only over rows with a present label.

Every metric of :data:`automtl.config.METRICS` that applies to the task type is computed.
Undefined values are NaN, never a made-up number: all metrics when a task has no labelled row,
AUC when only one class is present, r2 with fewer than two rows.

The validation objective used for early stopping is the mean over tasks of each task's
primary metric (``TaskSpec.metric``) oriented so that higher is better (minimised metrics are
negated). Mixed scales (an AUC next to an MSE) weigh as they come; it only has to rank epochs
of one run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from sklearn import metrics as skm

from automtl.config import METRICS, TaskSpec, metric_direction
from automtl.data.base import SplitTensors


def metric_names(task_type: str) -> list[str]:
    """The metrics computed for a task type, in :data:`METRICS` order."""
    return [name for name, (types, _) in METRICS.items() if task_type in types]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # stable for large |x|


def binary_metrics(y_true: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    if y_true.size == 0:
        return {name: math.nan for name in metric_names("binary")}
    prob = _sigmoid(logits.astype(np.float64))
    one_class = np.unique(y_true).size < 2
    return {
        "auc": math.nan if one_class else float(skm.roc_auc_score(y_true, prob)),
        "logloss": float(skm.log_loss(y_true, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "accuracy": float(skm.accuracy_score(y_true, prob >= 0.5)),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    if y_true.size == 0:
        return {name: math.nan for name in metric_names("regression")}
    mse = float(skm.mean_squared_error(y_true, y_pred))
    return {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "r2": float(skm.r2_score(y_true, y_pred)) if y_true.size >= 2 else math.nan,
    }


def task_metrics(task_type: str, y_true: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """Metrics of one task on labelled rows only (``y_true``/``prediction`` already masked)."""
    if task_type == "binary":
        return binary_metrics(y_true.astype(np.int64), prediction)
    if task_type == "regression":
        return regression_metrics(y_true.astype(np.float64), prediction.astype(np.float64))
    raise ValueError(f"unknown task type {task_type!r}; valid: ['binary', 'regression']")


def split_metrics(predictions: Mapping[str, torch.Tensor], split: SplitTensors,
                  tasks: Sequence[TaskSpec]) -> dict[str, dict[str, float]]:
    """``{task: {metric: value}}`` from raw predictions over every row of ``split``."""
    labels = split.labels.detach().float().cpu().numpy()
    mask = split.mask.detach().bool().cpu().numpy()
    out = {}
    for task in tasks:
        column = split.task_column(task.name)
        present = mask[:, column]
        prediction = predictions[task.name].detach().float().cpu().numpy().reshape(-1)
        out[task.name] = task_metrics(task.type, labels[present, column], prediction[present])
    return out


def validation_objective(metrics: Mapping[str, Mapping[str, float]],
                         tasks: Sequence[TaskSpec]) -> float:
    """Mean over tasks of the primary metric, negated where it is minimised (higher = better).

    NaN when any task's primary metric is NaN.
    """
    values = []
    for task in tasks:
        value = float(metrics[task.name][str(task.metric)])
        values.append(value if metric_direction(str(task.metric)) == "maximize" else -value)
    return float(np.mean(values))
