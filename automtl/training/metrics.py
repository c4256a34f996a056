"""Per-task evaluation metrics (scikit-learn), computed only over rows with a present label.

Every metric of :data:`automtl.config.METRICS` that applies to the task type is computed.
Regression predictions and labels are mapped back to the label's original units (the
schema's :class:`~automtl.config.LabelScaling`) before any metric, and per-row task weights
(``TaskSpec.weight``) are scikit-learn's ``sample_weight``.
Multiclass predictions are ``[N, C]`` logits (softmax probabilities for the metrics): accuracy,
log loss and ``auc_macro``, the mean one-vs-rest AUC over the classes present in the split
(scikit-learn's ``roc_auc_score(multi_class="ovr", average="macro")`` when every class is).
Undefined values are NaN, never a made-up number: all metrics when a task has no labelled row,
AUC when only one class is present, r2 with fewer than two rows.

The validation objective used for early stopping is the mean over tasks of each task's
primary metric (``TaskSpec.metric``) oriented so that higher is better (minimised metrics are
negated). Mixed scales (an AUC next to an MSE) weigh as they come; it only has to rank epochs
of one run. A task that is not an objective (``objectives``) and whose metric is undefined
(NaN) is left out of it, so an auxiliary task cannot stop early stopping short.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from sklearn import metrics as skm

from automtl.config import METRICS, InputSchema, TaskSpec, metric_direction
from automtl.data.base import SplitTensors
from automtl.data.encode import unscale_labels


def metric_names(task_type: str) -> list[str]:
    """The metrics computed for a task type, in :data:`METRICS` order."""
    return [name for name, (types, _) in METRICS.items() if task_type in types]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # stable for large |x|


def binary_metrics(y_true: np.ndarray, logits: np.ndarray,
                   weight: np.ndarray | None = None) -> dict[str, float]:
    if y_true.size == 0 or (weight is not None and not weight.sum() > 0):
        return {name: math.nan for name in metric_names("binary")}
    prob = _sigmoid(logits.astype(np.float64))
    one_class = np.unique(y_true).size < 2
    return {
        "auc": math.nan if one_class else float(skm.roc_auc_score(y_true, prob,
                                                                  sample_weight=weight)),
        "logloss": float(skm.log_loss(y_true, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1],
                                      sample_weight=weight)),
        "accuracy": float(skm.accuracy_score(y_true, prob >= 0.5, sample_weight=weight)),
    }


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def multiclass_metrics(y_true: np.ndarray, logits: np.ndarray,
                       weight: np.ndarray | None = None) -> dict[str, float]:
    """Accuracy, log loss and macro one-vs-rest AUC of ``[N, C]`` logits against class indices
    ``y_true`` [N]; ``auc_macro`` averages the classes with both present and absent rows."""
    if y_true.size == 0 or (weight is not None and not weight.sum() > 0):
        return {name: math.nan for name in metric_names("multiclass")}
    prob = _softmax(logits.astype(np.float64).reshape(y_true.size, -1))
    classes = prob.shape[1]
    aucs = [float(skm.roc_auc_score(y_true == k, prob[:, k], sample_weight=weight))
            for k in range(classes) if 0 < int((y_true == k).sum()) < y_true.size]
    clipped = np.clip(prob, 1e-7, 1.0)
    return {
        "auc_macro": float(np.mean(aucs)) if aucs else math.nan,
        "logloss": float(skm.log_loss(y_true, clipped / clipped.sum(axis=1, keepdims=True),
                                      labels=list(range(classes)), sample_weight=weight)),
        "accuracy": float(skm.accuracy_score(y_true, prob.argmax(axis=1),
                                             sample_weight=weight)),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray,
                       weight: np.ndarray | None = None) -> dict[str, float]:
    if y_true.size == 0 or (weight is not None and not weight.sum() > 0):
        return {name: math.nan for name in metric_names("regression")}
    mse = float(skm.mean_squared_error(y_true, y_pred, sample_weight=weight))
    return {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(skm.mean_absolute_error(y_true, y_pred, sample_weight=weight)),
        "r2": float(skm.r2_score(y_true, y_pred, sample_weight=weight))
        if y_true.size >= 2 else math.nan,
    }


def task_metrics(task_type: str, y_true: np.ndarray, prediction: np.ndarray,
                 weight: np.ndarray | None = None) -> dict[str, float]:
    """Metrics of one task on labelled rows only (``y_true``/``prediction`` already masked;
    ``prediction`` [N], or [N, C] logits for a multiclass task), optionally weighted per row
    (``weight``, scikit-learn's ``sample_weight``)."""
    if task_type == "binary":
        return binary_metrics(y_true.astype(np.int64), prediction, weight)
    if task_type == "regression":
        return regression_metrics(y_true.astype(np.float64), prediction.astype(np.float64),
                                  weight)
    if task_type == "multiclass":
        return multiclass_metrics(y_true.astype(np.int64), prediction, weight)
    raise ValueError(f"unknown task type {task_type!r}; valid: ['binary', 'multiclass', "
                     "'regression']")


def split_metrics(predictions: Mapping[str, torch.Tensor], split: SplitTensors,
                  tasks: Sequence[TaskSpec],
                  inputs: InputSchema | None = None) -> dict[str, dict[str, float]]:
    """``{task: {metric: value}}`` from raw predictions over every row of ``split``.

    ``inputs`` carries the regression labels' scaling: predictions and labels are mapped back
    to original units with it (None: both are used as they are).
    """
    labels = split.labels.detach().double().cpu().numpy()
    mask = split.mask.detach().bool().cpu().numpy()
    weights = None if split.weights is None else split.weights.detach().double().cpu().numpy()
    out = {}
    for task in tasks:
        column = split.task_column(task.name)
        present = mask[:, column]
        prediction = predictions[task.name].detach().double().cpu().numpy()
        prediction = prediction.reshape(len(split), -1) if task.type == "multiclass" \
            else prediction.reshape(-1)
        y_true, y_pred = labels[present, column], prediction[present]
        scaling = inputs.label_scaling(task.name) if inputs is not None else None
        if task.type == "regression" and scaling is not None:
            y_true, y_pred = unscale_labels(y_true, scaling), unscale_labels(y_pred, scaling)
        weight = None if weights is None or task.weight is None else weights[present, column]
        out[task.name] = task_metrics(task.type, y_true, y_pred, weight)
    return out


def validation_objective(metrics: Mapping[str, Mapping[str, float]],
                         tasks: Sequence[TaskSpec],
                         objectives: Sequence[str] | None = None) -> float:
    """Mean over tasks of the primary metric, negated where it is minimised (higher = better).

    ``objectives`` names the tasks that are search objectives (None: every task). NaN when an
    objective task's primary metric is NaN; a NaN metric of any other task is left out.
    """
    values = []
    for task in tasks:
        value = float(metrics[task.name][str(task.metric)])
        if math.isnan(value) and objectives is not None and task.name not in objectives:
            continue
        values.append(value if metric_direction(str(task.metric)) == "maximize" else -value)
    return float(np.mean(values)) if values else math.nan
