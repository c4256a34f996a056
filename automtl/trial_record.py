"""The stored record of a trial: what a finished trial left in the Optuna study, read back as a
:class:`TrialOutcome`. The one module search, report, export and the API read it through.

The study is the durable record of a search: the searcher stores the sampled candidate and the
trial's metrics, costs, artifact path and error under the keys below, so a report, the service
and a resumed run all read the same place. optuna-dashboard shows every user attribute in full
on one line (a candidate as one JSON line made a trial page 5,790 px wide), so a structured or
long value is written by :func:`set_trial_attr` / :func:`set_study_attr` as a *system*
attribute (in full, under its key, which the dashboard does not show) and as short user
attributes for people: a dict flattened to one attribute per leaf (``automtl:candidate.
architecture.topology``), a list or long text as its JSON cut to :data:`MAX_SHOWN_CHARS`.
Readers take :func:`stored_attrs` / :func:`study_attrs`, which also read studies written
before (everything in user attributes).

:data:`TRIAL_FIELDS` is the one list of a trial's fields: each field's name (the
:class:`TrialOutcome` attribute, the key of a trial in the front and the report, the column of
the trial CSV), the user attribute it is stored under in the study, and its column in the
service's ``automtl_trials`` table (those names predate the list; ``GET /jobs/{id}/trials``
sends each field under its name and its column, the column as a deprecated alias). Every
consumer builds its view from it (:func:`record_dict`, :func:`row_columns`,
:func:`outcome_from_row`) and
``tests/test_trial_record.py`` checks that each exposes exactly the list.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial, TrialState

ATTR_CANDIDATE = "automtl:candidate"
ATTR_VALID = "automtl:valid"
ATTR_TEST = "automtl:test"
ATTR_PARAMS = "automtl:params"
ATTR_LATENCY = "automtl:latency_ms"
ATTR_EFFECTIVE_PARAMS = "automtl:effective_params"
ATTR_SPARSITY = "automtl:sparsity"
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
#: user attribute with the reason a candidate was refused at sampling (a static constraint such
#: as params_max): the trial is PRUNED but was never trained, unlike one MO-ASHA stopped
ATTR_INFEASIBLE = "automtl:infeasible"
ATTR_RUNGS = "automtl:rungs"


#: the longest value (characters) of a user attribute automtl writes, what optuna-dashboard
#: shows; the full value of a longer one is kept as a system attribute
MAX_SHOWN_CHARS = 200
_PREFIX = "automtl:"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS - 1] + "\u2026"


def shown_attrs(key: str, value: Any) -> dict[str, Any]:
    """The short user attributes that show ``value`` under ``key``: a dict flattened to one
    attribute per leaf (``key.sub.leaf``; a list of dicts or lists by index, ``key.0.name``;
    ``None`` leaves left out), a list of plain values as its JSON and a string, each cut to
    :data:`MAX_SHOWN_CHARS` characters (the last one an ellipsis); numbers, booleans and
    ``None`` as they are."""
    if isinstance(value, dict):
        shown: dict[str, Any] = {}
        for sub, item in value.items():
            if item is not None:  # an unset field says nothing on the dashboard
                shown.update(shown_attrs(f"{key}.{sub}", item))
        return shown
    if isinstance(value, list | tuple):
        if any(isinstance(item, dict | list | tuple) for item in value):
            return shown_attrs(key, {str(i): item for i, item in enumerate(value)})
        return {key: _clip(json.dumps(value, separators=(", ", ": ")))}
    if isinstance(value, str):
        return {key: _clip(value)}
    return {key: value}


def is_wide(value: Any) -> bool:
    """Whether ``value`` is kept in full as a system attribute (a dict, a list or a string
    longer than :data:`MAX_SHOWN_CHARS`) rather than shown as it is."""
    return isinstance(value, dict | list | tuple) or (isinstance(value, str)
                                                     and len(value) > MAX_SHOWN_CHARS)


#: trial attributes kept out of optuna-dashboard (system attributes only): per-epoch and
#: per-expert lists the report draws, which as clipped text would tell a reader little and
#: cost a database write per task (each attribute is one SQLite transaction of the driver)
HIDDEN_TRIAL_ATTRS = frozenset({ATTR_CURVE, ATTR_UTILISATION})


def set_trial_attr(trial: Any, key: str, value: Any) -> None:
    """Store ``value`` under ``key`` on a running ``optuna.Trial``: as a user attribute when it
    is short, else in full as a system attribute plus :func:`shown_attrs` as user attributes
    (none for :data:`HIDDEN_TRIAL_ATTRS`). Read it back with :func:`stored_attrs`."""
    _store_attr(functools.partial(trial.storage.set_trial_system_attr, trial._trial_id),
                trial.set_user_attr, key, value)


def set_stored_trial_attr(storage: Any, trial_id: int, key: str, value: Any) -> None:
    """:func:`set_trial_attr` for a trial addressed by its storage id (a finished one)."""
    _store_attr(functools.partial(storage.set_trial_system_attr, trial_id),
                functools.partial(storage.set_trial_user_attr, trial_id), key, value)


def attr_writes(key: str, value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one rule of the setters here: ``(system, user)`` attributes that store ``value``
    under ``key``: wide or hidden values in full as a system attribute; what the dashboard
    shows as short user attributes (:func:`shown_attrs`; none for a hidden key)."""
    system: dict[str, Any] = {}
    if is_wide(value) or key in HIDDEN_TRIAL_ATTRS:
        system[key] = value
        if key in HIDDEN_TRIAL_ATTRS:
            return system, {}
    return system, shown_attrs(key, value)


def _store_attr(set_system: Callable[[str, Any], None], set_user: Callable[[str, Any], None],
                key: str, value: Any) -> None:
    system, user = attr_writes(key, value)
    for name, item in system.items():
        set_system(name, item)
    for name, item in user.items():
        set_user(name, item)


def set_trial_attrs(trial: Any, values: Mapping[str, Any]) -> None:
    """:func:`set_trial_attr` for each item of ``values``, written in one database
    transaction when the trial's storage can (a ``set_trial_attrs(trial_id, system, user)``
    method: :class:`automtl.search.study.SnapshotStorage`); else one write per attribute as
    Optuna's API makes them, each its own transaction (a trial's record is some 40
    attributes: about 1 s of the driver per trial at load 10 on SQLite, issue 14)."""
    write = getattr(trial.storage, "set_trial_attrs", None)
    if write is None:
        for key, value in values.items():
            set_trial_attr(trial, key, value)
        return
    system: dict[str, Any] = {}
    user: dict[str, Any] = {}
    for key, value in values.items():
        more_system, more_user = attr_writes(key, value)
        system.update(more_system)
        user.update(more_user)
    write(trial._trial_id, system, user)
    trial._cached_frozen_trial.user_attrs.update(user)  # as Trial.set_user_attr keeps it


def stored_attrs(trial: FrozenTrial) -> dict[str, Any]:
    """A trial's automtl attributes by key, each in full: its user attributes overlaid with the
    ``automtl:`` system attributes :func:`set_trial_attr` kept (also reads a trial stored
    before, when everything was a user attribute)."""
    attrs = dict(trial.user_attrs)
    attrs.update((k, v) for k, v in trial.system_attrs.items() if k.startswith(_PREFIX))
    return attrs


def set_study_attr(study: Any, key: str, value: Any, *, show: bool = True) -> None:
    """:func:`set_trial_attr` for an ``optuna.Study`` (Optuna 5 has no public study system
    attributes, so its storage is written directly, as optuna-dashboard does); ``show=False``
    keeps a value meant for automtl only (a fingerprint) out of the user attributes."""
    if is_wide(value) or not show:
        study._storage.set_study_system_attr(study._study_id, key, value)
    if not show:
        return
    for name, shown in shown_attrs(key, value).items():
        study.set_user_attr(name, shown)


def study_attrs(study: Any) -> dict[str, Any]:
    """A study's automtl attributes by key, each in full (:func:`stored_attrs` for a study)."""
    attrs = dict(study.user_attrs)
    storage = getattr(study, "_storage", None)
    system = (storage.get_study_system_attrs(study._study_id) if storage is not None
              else getattr(study, "system_attrs", {}))  # an optuna.study.FrozenStudy
    attrs.update((k, v) for k, v in system.items() if k.startswith(_PREFIX))
    return attrs


@dataclass(frozen=True)
class TrialField:
    """One field of a trial's record: ``name`` (:class:`TrialOutcome`'s attribute and the key
    in every JSON/CSV view), ``attr`` (the study user attribute it is stored under; ``None``
    when it comes from Optuna's trial itself or is derived), ``column`` (its column in the
    service's trial table and REST field; ``None`` when the service does not store it) and
    ``doc``."""

    name: str
    attr: str | None
    column: str | None
    doc: str


#: every field of a trial's record, in the order views list them
TRIAL_FIELDS: tuple[TrialField, ...] = (
    TrialField("number", None, "number", "Optuna's trial number in the study"),
    TrialField("state", None, "state", "RUNNING, COMPLETE, PRUNED or FAIL (the service "
               "stores it lowercase, FAIL as failed)"),
    TrialField("params", None, "params", "the parameters Optuna sampled, by their "
               "hierarchical names"),
    TrialField("candidate", ATTR_CANDIDATE, "config", "the candidate built from them: "
               "architecture, weighting, train"),
    TrialField("values", None, "objectives", "objective name -> validation value (complete "
               "trials)"),
    TrialField("valid", ATTR_VALID, "valid_metrics", "task -> metric -> value, validation "
               "split"),
    TrialField("test", ATTR_TEST, "test_metrics", "task -> metric -> value, test split"),
    TrialField("num_params", ATTR_PARAMS, "num_params", "trainable parameters (count)"),
    TrialField("latency_ms", ATTR_LATENCY, "latency_ms", "inference time per 1000 rows (ms)"),
    TrialField("effective_params", ATTR_EFFECTIVE_PARAMS, None, "parameters a prediction "
               "still depends on after SNR pruning"),
    TrialField("sparsity", ATTR_SPARSITY, None, "SNR: share of closed connections"),
    TrialField("train_time_s", ATTR_TRAIN_TIME, "train_seconds", "seconds in the training "
               "loop"),
    TrialField("trial_time_s", ATTR_TRIAL_TIME, "total_seconds", "seconds of the whole trial "
               "(data, training, evaluation, saving)"),
    TrialField("duration_s", None, None, "seconds from Optuna's start to completion"),
    TrialField("epochs", ATTR_EPOCHS, None, "epochs trained"),
    TrialField("artifact", ATTR_ARTIFACT, "artifact_path", "the trial's artifact folder"),
    TrialField("ray_node_id", ATTR_NODE, "ray_node_id", "the Ray node the trial ran on"),
    TrialField("gate_utilisation", ATTR_UTILISATION, "gate_utilisation", "task -> mean gate "
               "weight per expert (gated topologies)"),
    TrialField("learning_curve", ATTR_CURVE, None, "\"epoch\" and \"<task>/<metric>\" -> "
               "per-epoch validation values"),
    TrialField("error", ATTR_ERROR, "error", "why a failed trial failed"),
    TrialField("feasible", None, None, "every constraint satisfied"),
    TrialField("interrupted", ATTR_INTERRUPTED, None, "stopped before it finished by a cancel, "
               "the wall-time budget or a worker shutting down (not a failure)"),
    TrialField("pruned_epoch", ATTR_PRUNED_EPOCH, "pruned_epoch", "epoch at which MO-ASHA "
               "stopped a pruned trial"),
    TrialField("rungs", ATTR_RUNGS, "rung_values", "rung epoch -> objective values there"),
    TrialField("infeasible", ATTR_INFEASIBLE, None, "why a candidate was refused at sampling "
               "(never trained)"),
    TrialField("on_front", None, "on_front", "on the Pareto front of the study"),
)
#: the record's field names, in order
TRIAL_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in TRIAL_FIELDS)
#: the service's trial columns (and REST trial fields) of the record, in order
TRIAL_COLUMNS: tuple[str, ...] = tuple(f.column for f in TRIAL_FIELDS if f.column is not None)
#: the row's own bookkeeping columns beside the record's
ROW_TIMESTAMPS: tuple[str, ...] = ("created_at", "finished_at")
#: Optuna's trial state -> the service row's state, and back. A WAITING trial (enqueued, never
#: started) has no row; a FAIL trial with ``automtl:interrupted`` (stopped by a cancel, the
#: wall-time budget or a worker shutting down) is ``interrupted`` (:func:`row_state`).
ROW_STATE: dict[str, str] = {"RUNNING": "running", "COMPLETE": "complete",
                             "FAIL": "failed", "PRUNED": "pruned"}
_OPTUNA_STATE: dict[str, str] = {"running": "RUNNING", "complete": "COMPLETE",
                                 "failed": "FAIL", "pruned": "PRUNED", "interrupted": "FAIL"}


#: the state shown for a FAIL trial with ``automtl:interrupted`` (Optuna has no such state):
#: in progress lines, tables, trials.csv, the report and the export's messages
INTERRUPTED_STATE = "INTERRUPTED"


def shown_state(state: str, interrupted: bool | None) -> str:
    """Optuna's state name as shown to a user: :data:`INTERRUPTED_STATE` for a FAIL trial a
    cancel, the wall-time budget or a shutdown stopped before it finished (not a failure),
    else ``state`` itself."""
    return INTERRUPTED_STATE if state == "FAIL" and interrupted else state


def row_state(outcome: TrialOutcome) -> str:
    """The service row's state of a trial: :data:`ROW_STATE`, but ``interrupted`` for a FAIL
    trial that was stopped before it finished rather than failing (:func:`state_label`)."""
    return state_label(outcome.state, outcome.interrupted)


def state_label(state: str, interrupted: bool | None = False) -> str:
    """A trial's state as every command, file and page shows it to a reader: the service's
    names (``complete``, ``pruned``, ``failed``, ``interrupted``, ``running``, as REST's
    ``/trials`` says them), from Optuna's (``COMPLETE``, ``FAIL``, ...) or
    :func:`shown_state`'s ``INTERRUPTED``; they were ``COMPLETE`` in the CLI and the report
    and ``complete`` over REST."""
    state = shown_state(state, interrupted)
    if state == INTERRUPTED_STATE:
        return "interrupted"
    return ROW_STATE.get(state, state.lower())


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
    a non-finite value); ``sparsity`` is SNR's share of closed connections and
    ``effective_params`` the parameters left after pruning; ``error`` is set for FAIL trials.
    ``pruned_epoch`` is the epoch at which MO-ASHA stopped a PRUNED trial and ``rungs`` maps
    each rung epoch the trial reached to its objective values there. ``infeasible`` is set (the
    reason) for a PRUNED trial refused at sampling by a static constraint and never trained.
    ``on_front``: the trial is on the study's Pareto front. The fields are exactly
    :data:`TRIAL_FIELDS`, in its order.
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
    effective_params: int | None = None
    sparsity: float | None = None
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
    infeasible: str | None = None
    on_front: bool = False

    @property
    def complete(self) -> bool:
        return self.state == TrialState.COMPLETE.name


def outcome_from_trial(trial: FrozenTrial, objective_names: list[str],
                       front: Collection[int] = ()) -> TrialOutcome:
    """Read a (finished or running) trial of an automtl study back into a :class:`TrialOutcome`;
    ``front`` holds the numbers of the study's Pareto-front trials."""
    attrs = stored_attrs(trial)
    values = None
    if trial.state == TrialState.COMPLETE and trial.values is not None:
        values = dict(zip(objective_names, (float(v) for v in trial.values), strict=True))
    duration = None
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
    fields: dict[str, Any] = {f.name: attrs.get(f.attr) for f in TRIAL_FIELDS
                              if f.attr is not None}
    fields.update(
        number=trial.number, state=trial.state.name, params=dict(trial.params), values=values,
        valid=fields["valid"] or {}, test=fields["test"] or {}, duration_s=duration,
        feasible=is_feasible(trial), interrupted=bool(fields["interrupted"]),
        on_front=trial.number in front)
    return TrialOutcome(**fields)


def record_dict(outcome: TrialOutcome) -> dict[str, Any]:
    """The record as a JSON-ready dict keyed by :data:`TRIAL_FIELD_NAMES` (a trial of the
    front and of the report)."""
    return {name: getattr(outcome, name) for name in TRIAL_FIELD_NAMES}


def row_columns(outcome: TrialOutcome) -> dict[str, Any]:
    """The service row's columns (:data:`TRIAL_COLUMNS` but its key ``number`` and
    ``on_front``, which the front's own update sets) from a study trial's outcome: the state
    lowercase, empty metrics as ``None``, the trial's own time (else Optuna's duration) as
    ``total_seconds``, and a sampling refusal's reason as the ``error`` of a row that has none."""
    columns = {f.column: getattr(outcome, f.name) for f in TRIAL_FIELDS
               if f.column is not None and f.name not in ("number", "on_front")}
    columns.update(
        state=row_state(outcome), params=dict(outcome.params),
        valid_metrics=outcome.valid or None, test_metrics=outcome.test or None,
        total_seconds=outcome.trial_time_s or outcome.duration_s,
        error=outcome.error or outcome.infeasible)
    return columns


def outcome_from_row(row: Any) -> TrialOutcome:
    """A :class:`TrialOutcome` from a service trial row (an object with the
    :data:`TRIAL_COLUMNS` as attributes, e.g. ``automtl_storage.Trial``; ``number`` and
    ``state`` are required, a missing other column reads as empty); fields the service does not
    store keep their defaults. The library never imports the service: it reads the row's
    attributes by the names in :data:`TRIAL_FIELDS`."""
    fields: dict[str, Any] = {f.name: getattr(row, f.column, None) for f in TRIAL_FIELDS
                              if f.column is not None}
    fields["number"], fields["state"] = row.number, row.state
    state = str(getattr(fields["state"], "value", fields["state"]))
    fields.update(
        number=int(fields["number"]), state=_OPTUNA_STATE.get(state.lower(), state.upper()),
        params=dict(fields["params"] or {}),
        values=dict(fields["values"]) if fields["values"] else None,
        valid=dict(fields["valid"] or {}), test=dict(fields["test"] or {}),
        on_front=bool(fields["on_front"]), interrupted=state.lower() == "interrupted")
    return TrialOutcome(**fields)


#: study attribute holding the data's warnings (a binary task with too few of one class in
#: the valid or test split: :func:`automtl.data.checks.rare_class_warnings`), a list of lines
STUDY_DATA_WARNINGS_ATTR = "automtl:data_warnings"


def data_warnings_of(study: Any) -> list[str]:
    """The data warnings stored with a study (empty when none, or stored before they were)."""
    value = study_attrs(study).get(STUDY_DATA_WARNINGS_ATTR)
    return [str(v) for v in value] if isinstance(value, list) else []


#: study attribute holding the confirmation stage's summary (automtl.search.confirm)
STUDY_CONFIRMATION_ATTR = "automtl:confirmation"


def confirmation_of(study: Any) -> dict[str, Any] | None:
    """The stored confirmation summary of an Optuna study, or ``None`` when it was not
    confirmed (written by :func:`automtl.search.confirm.run_confirmation`)."""
    value = study_attrs(study).get(STUDY_CONFIRMATION_ATTR)
    return value if isinstance(value, dict) else None


def empty_front_text(pruned: int, failed: int) -> str:
    """What a search that ended with no complete trial left (the CLI's summary, a job's
    warnings): no front, nothing to export, and what to change."""
    return (f"the search ended without a result: no trial trained to its last epoch "
            f"({pruned} stopped early (pruned), {failed} failed), so the Pareto front is "
            f"empty and there is no model to export; run it again with a larger budget.trials")
