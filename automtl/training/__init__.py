"""Training: the :class:`Trainer`, masked per-task losses, metrics and the result types."""

from __future__ import annotations

from automtl.training.losses import masked_loss, task_losses
from automtl.training.metrics import split_metrics, task_metrics, validation_objective
from automtl.training.result import (
    EpochRecord,
    StopTraining,
    TrainingDivergedError,
    TrainingInterrupted,
    TrainingState,
    TrainResult,
)
from automtl.training.trainer import Trainer, build_optimizer

__all__ = [
    "EpochRecord",
    "StopTraining",
    "TrainingState",
    "TrainResult",
    "Trainer",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "build_optimizer",
    "masked_loss",
    "split_metrics",
    "task_losses",
    "task_metrics",
    "validation_objective",
]
