"""Tensors of one dataset split, built once and movable to the training device."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SplitTensors:
    """All rows of one split as dense tensors.

    ``numeric`` [N, n_num] float32 (standardised), ``categorical`` [N, n_cat] int64 (0 = OOV),
    ``labels`` [N, n_tasks] float32 with missing labels replaced by 0 (regression labels in
    training units: transformed and standardised), ``mask`` [N, n_tasks] bool, True where the
    task's label is present, and ``weights`` [N, n_tasks] float32 per-row task weights (None:
    every row weighs 1). Task columns follow ``task_names``.
    """

    numeric: torch.Tensor
    categorical: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor
    task_names: tuple[str, ...]
    weights: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> SplitTensors:
        return SplitTensors(
            numeric=self.numeric.to(device, non_blocking=True),
            categorical=self.categorical.to(device, non_blocking=True),
            labels=self.labels.to(device, non_blocking=True),
            mask=self.mask.to(device, non_blocking=True),
            task_names=self.task_names,
            weights=None if self.weights is None else self.weights.to(device, non_blocking=True),
        )

    def slice(self, start: int, stop: int) -> SplitTensors:
        """Rows ``start:stop`` as views (no copy)."""
        return SplitTensors(self.numeric[start:stop], self.categorical[start:stop],
                            self.labels[start:stop], self.mask[start:stop], self.task_names,
                            None if self.weights is None else self.weights[start:stop])

    def index(self, rows: torch.Tensor) -> SplitTensors:
        """Rows selected by an index tensor on the same device (one gather per tensor)."""
        return SplitTensors(self.numeric[rows], self.categorical[rows], self.labels[rows],
                            self.mask[rows], self.task_names,
                            None if self.weights is None else self.weights[rows])

    def task_weights(self) -> torch.Tensor:
        """``weights`` [N, n_tasks], or ones when the split has none."""
        if self.weights is None:
            return torch.ones_like(self.labels)
        return self.weights

    def task_column(self, task: str) -> int:
        return self.task_names.index(task)
