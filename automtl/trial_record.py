"""The stored record of a trial: what a finished trial left in the Optuna study, read back as a
:class:`TrialOutcome`. The one module search, report, export and the API read it through.

The study is the durable record of a search: the searcher stores the sampled candidate and the
trial's metrics, costs, artifact path and error as user attributes under the keys below, so a
report, the service and a resumed run all read the same place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial, TrialState

ATTR_CANDIDATE = "automtl:candidate"
ATTR_VALID = "automtl:valid"
ATTR_TEST = "automtl:test"
ATTR_PARAMS = "automtl:params"
ATTR_LATENCY = "automtl:latency_ms"
ATTR_TRAIN_TIME = "automtl:train_time_s"
ATTR_TRIAL_TIME = "automtl:trial_time_s"
ATTR_EPOCHS = "automtl:epochs"
ATTR_ARTIFACT = "automtl:artifact"
ATTR_NODE = "automtl:ray_node_id"
ATTR_UTILISATION = "automtl:gate_utilisation"
ATTR_CURVE = "automtl:learning_curve"
ATTR_ERROR = "automtl:error"
ATTR_INTERRUPTED = "automtl:interrupted"
ATTR_RETRY_OF = "automtl:retry_of"
ATTR_PRUNED_EPOCH = "automtl:pruned_epoch"
ATTR_RUNGS = "automtl:rungs"


def finite_or_none(value: Any) -> float | None:
    """``float(value)`` when it is a finite number, else ``None`` (NaN, inf, missing)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def is_feasible(trial: FrozenTrial) -> bool:
    """All constraint values <= 0 (Optuna's definition; no constraints means feasible)."""
    return all(v <= 0.0 for v in trial.constraints.values())


@dataclass(frozen=True)
class TrialOutcome:
    """One finished trial: its state, what was sampled, what it scored and what it cost.

    ``values`` maps each objective name to its validation value (``None`` unless COMPLETE);
    ``valid`` and ``test`` map task name -> {metric: value}; ``gate_utilisation`` maps task name
    -> mean gate weight per expert (gated topologies); ``learning_curve`` maps ``"epoch"`` and
    each ``"<task>/<metric>"`` to its per-epoch validation values (1-based epochs, ``None`` for
    a non-finite value); ``error`` is set for FAIL trials.
    ``pruned_epoch`` is the epoch at which MO-ASHA stopped a PRUNED trial and ``rungs`` maps
    each rung epoch the trial reached to its objective values there.
    """

    number: int
    state: str
    params: dict[str, Any]
    candidate: dict[str, Any] | None
    values: dict[str, float] | None
    valid: dict[str, dict[str, float]] = field(default_factory=dict)
    test: dict[str, dict[str, float]] = field(default_factory=dict)
    num_params: int | None = None
    latency_ms: float | None = None
    train_time_s: float | None = None
    trial_time_s: float | None = None
    duration_s: float | None = None
    epochs: int | None = None
    artifact: str | None = None
    ray_node_id: str | None = None
    gate_utilisation: dict[str, list[float]] | None = None
    learning_curve: dict[str, list[float | None]] | None = None
    error: str | None = None
    feasible: bool = True
    interrupted: bool = False
    pruned_epoch: int | None = None
    rungs: dict[str, dict[str, float]] | None = None

    @property
    def complete(self) -> bool:
        return self.state == TrialState.COMPLETE.name


def outcome_from_trial(trial: FrozenTrial, objective_names: list[str]) -> TrialOutcome:
    """Read a (finished or running) trial of an automtl study back into a :class:`TrialOutcome`."""
    attrs = trial.user_attrs
    values = None
    if trial.state == TrialState.COMPLETE and trial.values is not None:
        values = dict(zip(objective_names, (float(v) for v in trial.values), strict=True))
    duration = None
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
    return TrialOutcome(
        number=trial.number,
        state=trial.state.name,
        params=dict(trial.params),
        candidate=attrs.get(ATTR_CANDIDATE),
        values=values,
        valid=attrs.get(ATTR_VALID, {}),
        test=attrs.get(ATTR_TEST, {}),
        num_params=attrs.get(ATTR_PARAMS),
        latency_ms=attrs.get(ATTR_LATENCY),
        train_time_s=attrs.get(ATTR_TRAIN_TIME),
        trial_time_s=attrs.get(ATTR_TRIAL_TIME),
        duration_s=duration,
        epochs=attrs.get(ATTR_EPOCHS),
        artifact=attrs.get(ATTR_ARTIFACT),
        ray_node_id=attrs.get(ATTR_NODE),
        gate_utilisation=attrs.get(ATTR_UTILISATION),
        learning_curve=attrs.get(ATTR_CURVE),
        error=attrs.get(ATTR_ERROR),
        feasible=is_feasible(trial),
        interrupted=bool(attrs.get(ATTR_INTERRUPTED, False)),
        pruned_epoch=attrs.get(ATTR_PRUNED_EPOCH),
        rungs=attrs.get(ATTR_RUNGS),
    )


#: study attribute holding the confirmation stage's summary (automtl.search.confirm)
STUDY_CONFIRMATION_ATTR = "automtl:confirmation"


def confirmation_of(study: Any) -> dict[str, Any] | None:
    """The stored confirmation summary of an Optuna study, or ``None`` when it was not
    confirmed (written by :func:`automtl.search.confirm.run_confirmation`)."""
    value = study.user_attrs.get(STUDY_CONFIRMATION_ATTR)
    return value if isinstance(value, dict) else None
