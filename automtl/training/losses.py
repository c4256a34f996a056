"""Per-task losses that respect each task's sample space.

A task's loss averages only over the rows where its label is present: BCE-with-logits for
binary tasks, squared error for regression, softmax cross-entropy for multiclass tasks (logits
``[B, C]``, the label a class index). Absent rows are neutralised with ``torch.where``
(their label replaced by 0 before the loss, their loss by 0 after), never by boolean indexing,
so a NaN label can never reach the loss or its gradient, and shapes stay static. A batch where a
task has no labelled row contributes a loss of exactly 0 for it; :func:`labelled_tasks` tells a
weighting which tasks those are. With per-row task weights (``TaskSpec.weight``) the loss is
the weighted mean ``sum(w * loss) / sum(w)`` over present rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from automtl.config import TaskSpec
from automtl.data.base import SplitTensors


def masked_loss(prediction: torch.Tensor, label: torch.Tensor, present: torch.Tensor,
                task_type: str, weight: torch.Tensor | None = None) -> torch.Tensor:
    """(Weighted) mean loss over present rows; ``prediction`` [B] are logits (binary) or
    values (regression, in training units), [B, C] logits (multiclass, ``label`` the class
    index), ``weight`` [B] optional non-negative row weights."""
    present = present.reshape(-1).bool()
    if weight is not None:
        present = present & (weight.reshape(-1) > 0)
    if task_type == "multiclass":
        logits = prediction.float().reshape(present.shape[0], -1)
        classes = torch.where(present, label.reshape(-1), torch.zeros_like(label.reshape(-1)))
        per_row = F.cross_entropy(logits, classes.long(), reduction="none")
        return _reduce(per_row, present, weight)
    prediction = prediction.float().reshape(-1)
    target = torch.where(present, label.float().reshape(-1), 0.0)
    if task_type == "binary":
        per_row = F.binary_cross_entropy_with_logits(prediction, target, reduction="none")
    elif task_type == "regression":
        per_row = (prediction - target).pow(2)
    else:
        raise ValueError(f"unknown task type {task_type!r}; valid: ['binary', 'multiclass', "
                         "'regression']")
    return _reduce(per_row, present, weight)


def _reduce(per_row: torch.Tensor, present: torch.Tensor,
            weight: torch.Tensor | None) -> torch.Tensor:
    """Mean (weighted: ``sum(w * loss) / sum(w)``) of the present rows' losses; 0 for none."""
    per_row = torch.where(present, per_row, 0.0)
    if weight is None:
        return per_row.sum() / present.sum().clamp_min(1).to(per_row.dtype)
    w = torch.where(present, weight.float().reshape(-1), 0.0)
    return (per_row * w).sum() / w.sum().clamp_min(1e-12)


def task_losses(outputs: Mapping[str, torch.Tensor], batch: SplitTensors,
                tasks: Sequence[TaskSpec]) -> dict[str, torch.Tensor]:
    """``{task: masked loss}`` for every task, reading labels by the batch's task columns."""
    losses = {}
    for task in tasks:
        if task.name not in outputs:
            raise KeyError(f"the model returned no prediction for task {task.name!r}")
        column = batch.task_column(task.name)
        losses[task.name] = masked_loss(
            outputs[task.name], batch.labels[:, column], batch.mask[:, column], task.type,
            None if batch.weights is None else batch.weights[:, column])
    return losses


def labelled_tasks(batch: SplitTensors, task_names: Sequence[str]) -> dict[str, int]:
    """``{task: rows}``: how many labelled rows (of positive sample weight) each task has in
    the batch, the ``WeightingContext.labelled`` the Trainer passes to the weighting.

    A task with 0 has a loss of exactly 0 and no gradient in this batch.
    """
    present = batch.mask
    if batch.weights is not None:
        present = present & (batch.weights > 0)
    columns = [batch.task_column(name) for name in task_names]
    counts = present[:, columns].sum(dim=0).tolist()
    return dict(zip(task_names, (int(c) for c in counts), strict=True))
