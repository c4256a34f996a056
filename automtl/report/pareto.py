"""The Pareto front of a (finished or running) search, read from its Optuna study.

The front is ``study.best_trials`` (Optuna's non-dominated sort, which already leaves out
infeasible trials); nothing here recomputes dominance. The hypervolume comes from moocore's
exact implementation, ``moocore.hypervolume`` (the public API of the C library of
López-Ibáñez et al.: the dimension-sweep algorithm of Fonseca, Paquete & López-Ibáñez, IEEE CEC
2006, and HV3D+/HV4D+ of Guerreiro & Fonseca, IEEE TEVC 2018). Optuna 5 exposes no public
function that returns a hypervolume number, and its private ``optuna._hypervolume`` may change
in any release.

Reference point (stated in the output as ``reference_point`` and ``reference_rule``):

- ``auc`` and ``accuracy``: 0.5, the chance level of a binary classifier;
- ``r2``: 0.0, the score of predicting the mean;
- ``params`` / ``latency_ms`` with a constraint: the constraint's bound;
- anything else (``logloss``, ``mse``, ``rmse``, ``mae``, unconstrained costs): the worst value
  among feasible complete trials, pushed 10% of the observed range further (10% of its
  magnitude when all values are equal, 1 when that is 0).

Front points that are worse than the reference in some objective add nothing to the volume.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import moocore
import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from automtl.jobspec import JobSpec, Objective
from automtl.trial_record import (
    ATTR_INTERRUPTED,
    TRIAL_FIELD_NAMES,
    confirmation_of,
    data_warnings_of,
    is_feasible,
    outcome_from_trial,
    record_dict,
    state_label,
    stored_attrs,
)

_FIXED_REFERENCE: dict[str, tuple[float, str]] = {
    "auc": (0.5, "fixed 0.5: chance-level AUC"),
    "accuracy": (0.5, "fixed 0.5: chance-level accuracy"),
    "r2": (0.0, "fixed 0.0: R2 of predicting the mean"),
}
_MARGIN = 0.1


def reference_point(
    objectives: list[Objective], spec: JobSpec, feasible: list[FrozenTrial]
) -> tuple[list[float], list[str]]:
    """The hypervolume reference point (in the objectives' own directions) and its rules."""
    bounds = {"params": spec.constraints.params_max,
              "latency_ms": spec.constraints.latency_ms_max}
    point: list[float] = []
    rules: list[str] = []
    for i, obj in enumerate(objectives):
        if obj.metric in _FIXED_REFERENCE:
            value, rule = _FIXED_REFERENCE[obj.metric]
        elif bounds.get(obj.name) is not None and obj.metric is None:
            value, rule = float(bounds[obj.name] or 0.0), f"constraint bound {obj.name}_max"
        else:
            value, rule = _nadir_with_margin([t.values[i] for t in feasible], obj.direction)
        point.append(float(value))
        rules.append(rule)
    return point, rules


def _nadir_with_margin(values: list[float], direction: str) -> tuple[float, str]:
    rule = "worst feasible value + 10% of the observed range"
    if not values:
        return float("nan"), rule + " (no feasible trials yet)"
    worst = max(values) if direction == "minimize" else min(values)
    spread = max(values) - min(values)
    margin = _MARGIN * (spread if spread > 0 else (abs(worst) if worst != 0 else 10.0))
    return (worst + margin if direction == "minimize" else worst - margin), rule


def hypervolume(values: np.ndarray, directions: Sequence[str], reference: list[float]
                ) -> float:
    """Volume dominated by ``values`` [n, k] (objective units) up to ``reference`` [k], in the
    product of the objectives' units; ``directions`` says which way each objective improves.
    Points worse than the reference in some objective add nothing. Via ``moocore.hypervolume``
    (objectives turned into losses, so the reference is the worst corner)."""
    if values.size == 0 or not np.all(np.isfinite(reference)):
        return 0.0
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    losses = values * signs
    ref = np.asarray(reference, dtype=float) * signs
    inside = losses[np.all(losses <= ref, axis=1)]
    if inside.size == 0:
        return 0.0
    return float(moocore.hypervolume(inside, ref=ref))




def pareto_front(study: optuna.Study, spec: JobSpec) -> dict[str, Any]:
    """The job's front as a JSON-ready dict (the shape of ``GET /jobs/{id}/pareto``).

    Keys: ``objectives`` (name, direction), ``reference_point`` (name -> value),
    ``reference_rule`` (name -> how it was chosen), ``hypervolume``, ``trials`` (front trials
    sorted by number, each the trial's record keyed by
    :data:`~automtl.trial_record.TRIAL_FIELD_NAMES`: ``number``, ``candidate``, ``values``
    objective -> validation value, ``valid`` / ``test`` task -> metrics, ``num_params``,
    ``latency_ms``, ``artifact``, ...), and the counts ``n_trials`` (complete), ``n_failed``
    (failures only), ``n_interrupted`` (stopped by a cancel, the time limit or a shutdown
    before they finished), ``n_infeasible``, ``n_dominated``; ``warnings``, what makes the
    front doubtful (a binary task with too few of one class in the valid or test split);
    and a task below chance on every front point (:func:`below_chance_warnings`);
    ``mtl_gain``, the confirmed MTL gain table (:func:`confirmed_gains`; ``None`` until a
    confirmation is stored); with ``domains`` also ``domains`` (:func:`domain_columns`).
    """
    objectives = spec.objective_list()
    directions = [d.name.lower() for d in study.directions]
    if directions != [o.direction for o in objectives]:
        raise ValueError(f"study {study.study_name!r} has directions {directions}, the job's "
                         f"objectives need {[o.direction for o in objectives]}")
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    ended = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    interrupted = [t for t in ended if stored_attrs(t).get(ATTR_INTERRUPTED)]
    feasible = [t for t in complete if is_feasible(t)]
    front = sorted(study.best_trials, key=lambda t: t.number)
    reference, rules = reference_point(objectives, spec, feasible)
    front_values = np.array([t.values for t in front], dtype=float).reshape(-1, len(objectives))
    names = [o.name for o in objectives]
    on_front = {t.number for t in front}
    result: dict[str, Any] = {
        "study": study.study_name,
        "objectives": [{"name": o.name, "direction": o.direction, "metric": o.metric}
                       for o in objectives],
        "reference_point": {o.name: _json_float(v) for o, v in zip(objectives, reference,
                                                                  strict=True)},
        "reference_rule": {o.name: r for o, r in zip(objectives, rules, strict=True)},
        # an empty front has no volume: null, as a job's progress says it (not 0.0)
        "hypervolume": hypervolume(front_values, directions, reference) if front else None,
        "trials": [record_dict(outcome_from_trial(t, names, on_front)) for t in front],
        "n_trials": len(complete),
        "n_failed": len(ended) - len(interrupted),
        "n_interrupted": len(interrupted),
        "n_infeasible": len(complete) - len(feasible),
        "n_dominated": len(feasible) - len(front),
        "warnings": [],  # below
        "mtl_gain": confirmed_gains(confirmation_of(study)),
        **({"domains": domain_columns(spec)} if spec.domains is not None else {}),
    }
    result["warnings"] = data_warnings_of(study) + below_chance_warnings(result)
    return result


def below_chance_warnings(front: Mapping[str, Any]) -> list[str]:
    """One warning per task whose validation AUC is below 0.5 (worse than chance) on every
    trial of a non-empty front: the front ranks models that learned nothing useful for it."""
    trials = front.get("trials") or []
    tasks = sorted({task for trial in trials for task in (trial.get("valid") or {})})
    out = []
    for task in tasks:
        found = [((trial.get("valid") or {}).get(task) or {}).get("auc") for trial in trials]
        aucs = [float(v) for v in found if isinstance(v, float)]
        if trials and len(aucs) == len(trials) and all(v < 0.5 for v in aucs):
            out.append(f"task {task!r}: validation AUC below 0.5 (below chance) on every front "
                       f"point (best {max(aucs):.3f}): too few epochs, or a label the features "
                       f"do not predict?")
    return out


#: one row of the confirmed MTL-gain table, by these names everywhere it is given (front.json
#: and the report JSON under ``mtl_gain.gains``, ``GET /jobs/{id}/pareto`` and its
#: ``?format=csv&table=gains``, the CLI's ``gains.csv`` and end-of-search table): the front
#: trial, its topology, the task and its metric, the gain (mean over seeds of the paired
#: difference to the single-task model on the test split, positive = sharing helps), its
#: interval ``ci_low``..``ci_high``, the paired t-test ``p_value``, ``within_noise`` (the
#: interval contains 0), ``baseline_std`` (the single-task model's seed-to-seed spread: the
#: seed noise), ``seeds`` paired and the ``verdict`` in words
GAIN_FIELDS: tuple[str, ...] = ("trial", "topology", "task", "metric", "gain", "ci_low",
                                "ci_high", "p_value", "within_noise", "baseline_std", "seeds",
                                "verdict")


def gain_verdict(gain: Mapping[str, Any]) -> str:
    """``"within noise"`` (the interval contains 0), ``"better than single-task"``,
    ``"worse than single-task"`` or ``"no interval"`` (fewer than 2 paired seeds)."""
    within = gain.get("within_noise")
    if within is None:
        return "no interval"
    if within:
        return "within noise"
    return "better than single-task" if gain["gain"] > 0 else "worse than single-task"


def confirmed_gains(confirmation: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The confirmed MTL-gain table of a stored confirmation
    (:func:`automtl.search.confirm.summarize`), ``None`` when the search was not confirmed:
    ``seeds``, ``split`` (``"test"``), ``confidence`` (the interval's level),
    ``baseline_trial`` (the single-task model, ``None`` with ``baseline_missing`` saying why)
    and ``gains``, one row per front point and task keyed by :data:`GAIN_FIELDS`."""
    if not confirmation:
        return None
    rows = [{**{name: gain.get(name) for name in GAIN_FIELDS if name != "verdict"},
             "verdict": gain_verdict(gain)} for gain in confirmation.get("gains") or []]
    return {"seeds": confirmation.get("seeds"), "split": confirmation.get("split", "test"),
            "confidence": confirmation.get("confidence"),
            "baseline_trial": confirmation.get("baseline_trial"),
            "baseline_missing": confirmation.get("baseline_missing"), "gains": rows}


def gains_csv(front: Mapping[str, Any]) -> str:
    """The front's confirmed MTL-gain rows as CSV (:data:`GAIN_FIELDS` columns, the header
    also when the search was not confirmed)."""
    return csv_text(list(GAIN_FIELDS), (front.get("mtl_gain") or {}).get("gains") or [])


def csv_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """``rows`` as CSV text with ``columns`` as its header (written also without rows)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def domain_columns(spec: JobSpec) -> list[dict[str, str]]:
    """A multi-domain job's per-domain tasks as ``{"name", "task", "domain", "metric",
    "direction"}`` (task-major, domains in the spec's order): the columns of the report's
    per-domain table and the ``valid_<name>_<metric>`` columns of :func:`front_rows`."""
    from automtl.domains import domain_task_name

    assert spec.domains is not None
    return [{"name": domain_task_name(t.name, value), "task": t.name, "domain": value,
             "metric": str(t.metric), "direction": t.direction}
            for t in spec.tasks for value in spec.domains.values]


def _json_float(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


#: the record's per-task metric fields (task -> metric -> value, in
#: :data:`~automtl.trial_record.TRIAL_FIELDS`): each metric a ``<field>_<task>_<metric>``
#: column of the front and trial CSVs
METRIC_FIELDS: tuple[str, ...] = ("valid", "test")


def metric_columns(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record's (front entry's, trial record's) :data:`METRIC_FIELDS` flattened:
    ``valid_<task>_<metric>`` then ``test_<task>_<metric>``, tasks and metrics sorted."""
    return {f"{field}_{task}_{metric}": value
            for field in METRIC_FIELDS
            for task, metrics in sorted((record.get(field) or {}).items())
            for metric, value in sorted(metrics.items())}


def front_csv(front: dict[str, Any]) -> str:
    """The front as CSV text, one row per front trial (:func:`front_rows`); the header is
    always written (``trial, topology, weighting``, each objective, then the rows' other
    columns), so an empty front is a header line, not an empty file (the service's CSV always
    was)."""
    rows = front_rows(front)
    columns = ["trial", "topology", "weighting", *[o["name"] for o in front["objectives"]]]
    for row in rows:
        columns += [c for c in row if c not in columns]
    return csv_text(columns, rows)


def front_rows(front: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per front trial (for CSV and tables): trial, topology, weighting, values,
    every task's validation then test metrics (:func:`metric_columns`, the trial CSV's
    columns), then the record's ``num_params`` and ``latency_ms`` (their names in
    :data:`~automtl.trial_record.TRIAL_FIELDS`); ``effective_params`` and ``sparsity`` too
    when a front trial pruned (SNR). In a multi-domain job every per-domain task's
    validation metric (``valid_<task>__<domain>_<metric>``) has its column, empty where a
    trial has no value."""
    pruning = any(entry.get("sparsity") is not None for entry in front["trials"])
    rows = []
    for entry in front["trials"]:
        candidate = entry.get("candidate") or {}
        row: dict[str, Any] = {
            "trial": entry["number"],
            "topology": candidate.get("architecture", {}).get("topology"),
            "weighting": candidate.get("weighting", {}).get("name"),
        }
        row.update(entry["values"])
        for column in front.get("domains") or []:  # per-domain validation metrics
            value = (entry.get("valid") or {}).get(column["name"], {}).get(column["metric"])
            row[f"valid_{column['name']}_{column['metric']}"] = value
        row.update(metric_columns(entry))
        row["num_params"] = entry.get("num_params")
        row["latency_ms"] = entry.get("latency_ms")
        if pruning:
            row["effective_params"] = entry.get("effective_params")
            row["sparsity"] = entry.get("sparsity")
        rows.append(row)
    return rows


#: the column prefix of a searched (Optuna) parameter in :func:`trial_rows`
PARAM_PREFIX = "param:"


def reference_point_text(point: Mapping[str, float | None]) -> str:
    """A front's reference point as a reader wants it, ``"purchase 0.5, spend 0.2313"``
    (4 significant digits; ``"none yet"`` for an objective without one: no trial to set it),
    not a Python dict."""
    return ", ".join(f"{name} {'none yet' if value is None else format(value, '.4g')}"
                     for name, value in point.items())


def zero_hypervolume_note(front: Mapping[str, Any]) -> str | None:
    """Why a front with points has hypervolume 0 (``None`` otherwise): no point beats the
    reference point in every objective, and only those add volume (:func:`hypervolume`)."""
    if not front.get("trials") or front.get("hypervolume"):
        return None
    return (f"hypervolume 0: no front point is better than the reference point "
            f"({reference_point_text(front.get('reference_point') or {})}) in every "
            f"objective, and points below it count for nothing (a validation AUC under 0.5 "
            f"is worse than chance)")


def objective_label(objective: dict[str, Any], split: str = "valid") -> str:
    """``"ctr auc (valid)"`` for a task objective, ``"params"`` for a cost: what a user reads
    on an axis or in optuna-dashboard."""
    metric = objective.get("metric")
    return f"{objective['name']} {metric} ({split})" if metric else str(objective["name"])


def trial_rows(study: optuna.Study, spec: JobSpec) -> list[dict[str, Any]]:
    """One flat row per trial of the study, any state: the trial's number (``trial``, as in
    every table), what was tried and how it ended (the topology and weighting, each objective's
    value, then every scalar field of the trial's record, :data:`TRIAL_CSV_FIELDS`, under its
    record name; an error's first line), every task's validation and test metrics
    (:func:`metric_columns`, as in the front CSV), then each searched parameter as a
    ``param:<name>`` column (empty where it was not sampled)."""
    names = list(spec.objectives)
    front = {t.number for t in study.best_trials}
    rows = []
    for trial in study.get_trials(deepcopy=False):
        outcome = outcome_from_trial(trial, names, front)
        candidate = outcome.candidate or {}
        row: dict[str, Any] = {
            "trial": outcome.number, "state": state_label(outcome.state, outcome.interrupted),
            "topology": candidate.get("architecture", {}).get("topology"),
            "weighting": candidate.get("weighting", {}).get("name"),
        }
        for name in names:
            row[name] = (outcome.values or {}).get(name)
        row.update({name: getattr(outcome, name) for name in TRIAL_CSV_FIELDS
                    if name not in row})
        row["error"] = (outcome.error or "").splitlines()[0] if outcome.error else None
        row.update(metric_columns({f: getattr(outcome, f) for f in METRIC_FIELDS}))
        row.update({f"{PARAM_PREFIX}{k}": v for k, v in sorted(outcome.params.items())})
        rows.append(row)
    return rows


#: the record's fields with one value per trial (not a mapping; the number is the ``trial``
#: column): the trial CSV's columns beside the topology, weighting, objectives and parameters
TRIAL_CSV_FIELDS: tuple[str, ...] = tuple(
    name for name in TRIAL_FIELD_NAMES
    if name not in ("number", "params", "candidate", "values", "valid", "test",
                    "gate_utilisation", "learning_curve", "rungs"))
