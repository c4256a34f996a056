"""What training produces: one record per epoch and the final result (JSON-serialisable)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


class StopTraining(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by an epoch callback (e.g. a Ray Tune scheduler's decision) to end training
    cleanly after the current epoch; the best weights are still restored."""


class TrainingInterrupted(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by :meth:`automtl.Trainer.fit` when its ``interrupt`` check turned true before a
    batch: the run was abandoned (a cancelled search), nothing is restored or returned."""


class TrainingDivergedError(FloatingPointError):
    """A training loss became NaN or infinite; the run (and the search trial) has failed."""


@dataclass
class EpochRecord:
    """One epoch: mean training loss per task (unweighted), mean weight used per task,
    validation metrics, the validation objective (higher is better) and the epoch's seconds."""

    epoch: int
    train_losses: dict[str, float]
    weights: dict[str, float]
    valid_metrics: dict[str, dict[str, float]]
    objective: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainingState:
    """Everything :meth:`automtl.Trainer.fit` needs to go on after ``epoch`` epochs as if it had
    never stopped (``fit(resume=state)``): a paused trial's checkpoint (asynchronous successive
    halving's promotion variant, :mod:`automtl.search.mo_asha`). Taken by
    :meth:`~automtl.Trainer.training_state` inside an epoch callback; picklable with
    ``torch.save`` (tensors on the training device, moved by ``torch.load(map_location=)``).

    ``epoch``: epochs trained (the next one is ``epoch``, 0-based); ``model``/``optimizer``:
    their ``state_dict``; ``weighting``: a copy of the weighting object (its parameters, its
    loss history and its generator); ``generator``/``rng``: the batch-order generator's and
    torch's global CPU generator's states (dropout); ``history``, ``best_objective``,
    ``best_epoch``, ``best_state``, ``epochs_without_gain``: early stopping's bookkeeping;
    ``train_time_s``: training seconds so far; ``pass_seconds``: the validation passes' seconds
    (latency timing)."""

    epoch: int
    model: dict[str, Any]
    optimizer: dict[str, Any]
    weighting: Any
    generator: Any
    rng: Any
    history: list[EpochRecord]
    best_objective: float
    best_epoch: int
    best_state: dict[str, Any] | None
    epochs_without_gain: int
    train_time_s: float
    pass_seconds: list[float] = field(default_factory=list)


@dataclass
class TrainResult:
    """The outcome of :meth:`automtl.Trainer.fit`, with the best epoch's weights restored.

    ``valid_metrics``/``test_metrics`` are ``{task: {metric: value}}`` of the restored model
    (``test_metrics`` is None without a test split); ``primary_metrics`` is ``{task: metric}``;
    ``latency_ms`` is inference milliseconds per 1,000 rows (None unless
    ``fit(measure_latency=True)``); ``epochs`` counts epochs run and
    ``best_epoch`` is 0-based.
    """

    valid_metrics: dict[str, dict[str, float]]
    test_metrics: dict[str, dict[str, float]] | None
    primary_metrics: dict[str, str]
    num_parameters: int
    latency_ms: float | None
    train_time_s: float
    epochs: int
    best_epoch: int
    stopped_early: bool = False
    stopped_by_callback: bool = False
    history: list[EpochRecord] = field(default_factory=list)

    def primary(self, split: str = "valid") -> dict[str, float]:
        """``{task: value of its primary metric}`` on ``"valid"`` or ``"test"``."""
        metrics = self.valid_metrics if split == "valid" else self.test_metrics
        if metrics is None:
            raise ValueError(f"no {split} metrics in this result")
        return {task: metrics[task][name] for task, name in self.primary_metrics.items()}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
