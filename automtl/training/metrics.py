"""Per-task evaluation metrics, computed only over rows with a present label.

Every metric of :data:`automtl.config.METRICS` that applies to the task type is computed.
Regression predictions and labels are mapped back to the label's original units (the
schema's :class:`~automtl.config.LabelScaling`) before any metric, and per-row task weights
(``TaskSpec.weight``) weigh each row as scikit-learn's ``sample_weight`` does.

The metrics are vectorised numpy, equal to scikit-learn's ``roc_auc_score``, ``log_loss``,
``accuracy_score``, ``mean_squared_error``, ``mean_absolute_error`` and ``r2_score`` to 1e-12
(tested against them, ties and weights included), so that a search worker never imports
scikit-learn (about 0.9 s of each worker's start-up) and a validation pass spends
microseconds, not tens of milliseconds, per task on them.
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

from automtl.config import METRICS, InputSchema, TaskSpec, metric_direction
from automtl.data.base import SplitTensors
from automtl.data.encode import unscale_labels


def metric_names(task_type: str) -> list[str]:
    """The metrics computed for a task type, in :data:`METRICS` order."""
    return [name for name, (types, _) in METRICS.items() if task_type in types]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # stable for large |x|


def _mean(values: np.ndarray, weight: np.ndarray | None) -> float:
    """The (weighted) mean, as ``np.average`` (what scikit-learn's metrics average with)."""
    return float(np.average(values, weights=weight))


def roc_auc(y_true: np.ndarray, score: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Area under the ROC curve of ``score`` [N] for binary labels ``y_true`` [N] (0/1, or
    booleans), optionally weighted per row (``weight`` [N], >= 0).

    Computed as scikit-learn's ``roc_auc_score`` does (Fawcett 2006, "An introduction to ROC
    analysis", Algorithm 2 with the trapezoid rule): rows sorted by score, one ROC point per
    distinct score, so tied scores form one segment (a tie counts half, as with average
    ranks); cumulative (weighted) true and false positives; the trapezoid area. O(N log N).
    NaN when either class has no (weight in) rows.
    """
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    order = np.argsort(s, kind="mergesort")[::-1]
    s, y = s[order], y[order]
    # the last row of each run of equal scores: one threshold per distinct score
    ends = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    if weight is None:
        tps = np.cumsum(y)[ends]
        fps = 1.0 + ends - tps
    else:
        w = np.asarray(weight, dtype=np.float64).reshape(-1)[order]
        tps = np.cumsum(y * w)[ends]
        fps = np.cumsum((1.0 - y) * w)[ends]
    if not (tps[-1] > 0 and fps[-1] > 0):
        return math.nan
    tpr = np.r_[0.0, tps] / tps[-1]
    fpr = np.r_[0.0, fps] / fps[-1]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2.0)


def binary_metrics(y_true: np.ndarray, logits: np.ndarray,
                   weight: np.ndarray | None = None) -> dict[str, float]:
    """AUC, log loss (probabilities clipped to [1e-7, 1 - 1e-7]) and accuracy (threshold 0.5)
    of logits ``logits`` [N] against 0/1 labels ``y_true`` [N], optionally weighted per row;
    AUC is NaN when only one class is present, all three when no row (or weight) is."""
    if y_true.size == 0 or (weight is not None and not weight.sum() > 0):
        return {name: math.nan for name in metric_names("binary")}
    prob = _sigmoid(logits.astype(np.float64).reshape(-1))
    positive = y_true.reshape(-1) == 1
    one_class = bool(positive.all() or not positive.any())
    clipped = np.clip(prob, 1e-7, 1 - 1e-7)
    return {
        "auc": math.nan if one_class else roc_auc(positive, prob, weight),
        "logloss": _mean(-np.log(np.where(positive, clipped, 1.0 - clipped)), weight),
        "accuracy": _mean((prob >= 0.5) == positive, weight),
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
    if y_true.min() < 0 or y_true.max() >= classes:
        raise ValueError(f"multiclass labels must be class indices 0..{classes - 1}, got "
                         f"{int(y_true.min())}..{int(y_true.max())}")
    counts = np.bincount(y_true, minlength=classes)
    aucs = [roc_auc(y_true == k, prob[:, k], weight)
            for k in range(classes) if 0 < counts[k] < y_true.size]
    clipped = np.clip(prob, 1e-7, 1.0)
    clipped /= clipped.sum(axis=1, keepdims=True)
    # scikit-learn clips to [eps, 1 - eps] before the log; a no-op after the clip above
    eps = np.finfo(np.float64).eps
    true_prob = np.clip(clipped[np.arange(y_true.size), y_true], eps, 1 - eps)
    return {
        "auc_macro": float(np.mean(aucs)) if aucs else math.nan,
        "logloss": _mean(-np.log(true_prob), weight),
        "accuracy": _mean(prob.argmax(axis=1) == y_true, weight),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray,
                       weight: np.ndarray | None = None) -> dict[str, float]:
    if y_true.size == 0 or (weight is not None and not weight.sum() > 0):
        return {name: math.nan for name in metric_names("regression")}
    residual = y_true - y_pred
    mse = _mean(residual ** 2, weight)
    return {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": _mean(np.abs(residual), weight),
        "r2": _r2(y_true, residual, weight) if y_true.size >= 2 else math.nan,
    }


def _r2(y_true: np.ndarray, residual: np.ndarray, weight: np.ndarray | None) -> float:
    """Coefficient of determination as scikit-learn's ``r2_score`` (``force_finite``): 1.0
    for a perfect prediction, 0.0 for an imperfect one of a constant label."""
    w = 1.0 if weight is None else weight
    numerator = float(np.sum(w * residual ** 2))
    denominator = float(np.sum(w * (y_true - np.average(y_true, weights=weight)) ** 2))
    if numerator == 0:
        return 1.0
    return 0.0 if denominator == 0 else 1.0 - numerator / denominator


def task_metrics(task_type: str, y_true: np.ndarray, prediction: np.ndarray,
                 weight: np.ndarray | None = None) -> dict[str, float]:
    """Metrics of one task on labelled rows only (``y_true``/``prediction`` already masked;
    ``prediction`` [N], or [N, C] logits for a multiclass task), optionally weighted per row
    (``weight`` [N], as scikit-learn's ``sample_weight``). Raises ``ValueError`` for an
    unknown task type or a multiclass label outside 0..C-1."""
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
