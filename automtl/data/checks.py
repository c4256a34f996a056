"""Checks of a dataset's splits before any trial trains: every task must be learnable and
measurable, so a job with a task that has no positives in its valid split is refused up front
with the task, the split and the counts, instead of every trial failing as "diverged".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from automtl.config import TaskSpec
from automtl.data.base import SplitTensors
from automtl.data.errors import DataError

#: the splits a task must be labelled in (with both classes, for a binary task)
REQUIRED_SPLITS: tuple[str, ...] = ("train", "valid")


@dataclass(frozen=True)
class TaskCounts:
    """Labelled rows of one task in one split; ``positives`` only for binary tasks,
    ``classes`` (distinct classes labelled in the split) only for multiclass tasks."""

    task: str
    split: str
    labelled: int
    positives: int | None = None
    classes: int | None = None

    @property
    def negatives(self) -> int | None:
        return None if self.positives is None else self.labelled - self.positives

    def describe(self) -> str:
        if self.classes is not None:
            return f"{self.split} {self.labelled} labelled ({self.classes} classes)"
        if self.positives is None:
            return f"{self.split} {self.labelled} labelled"
        return (f"{self.split} {self.labelled} labelled ({self.positives} positive, "
                f"{self.negatives} negative)")


def task_counts(splits: Mapping[str, SplitTensors],
                tasks: Sequence[TaskSpec]) -> list[TaskCounts]:
    """Per task and split: labelled rows and, for binary tasks, positives."""
    out = []
    for task in tasks:
        for name, split in splits.items():
            column = split.task_column(task.name)
            present = split.mask[:, column]
            labelled = int(present.sum())
            positives = classes = None
            if task.type == "binary":
                positives = int(torch.where(present, split.labels[:, column],
                                            torch.zeros(())).sum().round())
            elif task.type == "multiclass":
                classes = int(torch.unique(split.labels[:, column][present]).numel())
            out.append(TaskCounts(task.name, name, labelled, positives, classes))
    return out


def check_splits(splits: Mapping[str, SplitTensors], tasks: Sequence[TaskSpec]) -> list[TaskCounts]:
    """Refuse data no trial could learn or be measured on; the counts when it is fine.

    Every task needs labelled rows in the train and valid splits, a binary task both
    classes there (its AUC is undefined otherwise, and a task without positives cannot be
    learnt), a multiclass task at least two classes in the valid split (every class is in the
    train split by construction: its classes are the train split's). Raises
    :class:`DataError` naming the task, the split and the counts of every split.
    """
    counts = task_counts(splits, tasks)
    by_task: dict[str, list[TaskCounts]] = {}
    for item in counts:
        by_task.setdefault(item.task, []).append(item)
    problems = []
    for task in tasks:
        items = by_task[task.name]
        for item in items:
            if item.split not in REQUIRED_SPLITS:
                continue
            if item.labelled == 0:
                problem = f"has no labelled rows in the {item.split} split"
            elif item.positives is not None and item.positives in (0, item.labelled):
                only = 0 if item.positives == 0 else 1
                problem = f"has only class {only} in the {item.split} split"
            elif item.classes is not None and item.classes < 2:
                problem = f"has only one class in the {item.split} split"
            else:
                continue
            detail = "; ".join(i.describe() for i in items)
            problems.append((task, f"task {task.name!r} (label column {task.label!r}) {problem}"
                                   f": {detail}"))
    if problems:
        hint = ("; give more labelled rows, change the split, or drop the task" if
                len(problems) == 1 else "")
        raise DataError("; ".join(text for _, text in problems) + hint,
                        column=str(problems[0][0].label), field="tasks")
    return counts


#: a binary task with fewer examples of its rarer class than this in the valid or test split
#: is warned about (the job still runs): its AUC there is too noisy to rank trials by. With n
#: positives among many negatives, the AUC's standard error at AUC 0.7 is about
#: sqrt(0.087 / n) (Hanley & McNeil, Radiology 1982): 0.13 at 5, 0.093 at 10, 0.066 at 20,
#: wider than the gaps between the trials of a front. The new-user pass's 3,000-row job had 9
#: positives in its valid split and a front of AUCs 0.36-0.49.
MIN_CLASS_COUNT = 20
#: the splits whose metrics rank (valid) or report (test) the trials
MEASURED_SPLITS: tuple[str, ...] = ("valid", "test")


def rare_class_warnings(counts: Sequence[TaskCounts],
                        minimum: int = MIN_CLASS_COUNT) -> list[str]:
    """One line per binary task and measured split (:data:`MEASURED_SPLITS`) whose rarer
    class has fewer than ``minimum`` labelled rows, naming the task, the split and the counts
    (and why it matters). Empty when every measured split has enough of both classes."""
    warnings = []
    for item in counts:
        if item.positives is None or item.split not in MEASURED_SPLITS or item.labelled == 0:
            continue
        negatives = item.labelled - item.positives
        rare, rarer = min((item.positives, "positive"), (negatives, "negative"))
        if rare >= minimum:
            continue
        use = "ranks the trials" if item.split == "valid" else "reports the trials' test metrics"
        warnings.append(
            f"task {item.task!r} has {rare} {rarer} label(s) in the {item.split} split (of "
            f"{item.labelled} labelled rows), fewer than {minimum}: its AUC there, which "
            f"{use}, is too noisy to compare trials (standard error about 0.1); use more rows "
            f"or a larger {item.split} split")
    return warnings


def stratification_classes(labels: Mapping[str, np.ndarray],
                           tasks: Sequence[TaskSpec]) -> tuple[str | None, np.ndarray | None]:
    """``(task, classes)`` for the rarest classification task: its class index (0/1 for a
    binary task) where labelled, one more class where missing.

    ``labels`` holds class indices (NaN: missing) of binary and multiclass tasks. The rarest
    task is the one with the fewest rows in its smallest class; None when no task is binary or
    multiclass or none has labelled rows.
    """
    best: tuple[int, str, np.ndarray] | None = None
    for task in tasks:
        if task.type not in ("binary", "multiclass") or task.name not in labels:
            continue
        values = labels[task.name]
        present = ~np.isnan(values)
        if int(present.sum()) == 0:
            continue
        codes = np.nan_to_num(values[present]).astype(np.int64)
        sizes = np.bincount(codes, minlength=2)
        smaller = int(sizes[sizes > 0].min()) if task.type == "multiclass" else int(sizes.min())
        if best is None or smaller < best[0]:
            missing_class = max(2, int(codes.max()) + 1)
            classes = np.where(present, np.nan_to_num(values), missing_class).astype(np.int64)
            best = (smaller, task.name, classes)
    if best is None:
        return None, None
    return best[1], best[2]


def label_like_warnings(columns: Sequence[str]) -> list[str]:
    """One line naming the inferred feature ``columns`` that hold only 0/1 values, like a
    binary label (:func:`automtl.data.io.is_binary`, both values present): another target the
    tasks do not name would leak the answer into the features. Empty when there are none."""
    if not columns:
        return []
    names = ", ".join(repr(c) for c in columns)
    return [f"possible label leakage: column(s) {names} hold only 0/1 values, like a binary "
            "label, and are used as features (inferred); if one is another target, or is known "
            "only once the label is, the model learns the answer from it: list the features "
            "(dataset.features) to leave it out, or make it a task"]
