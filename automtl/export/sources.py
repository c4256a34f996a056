"""Where an export reads a search from: the service's trial rows or a local search directory.

Both become an :class:`ExportSource` (the job's objectives and one :class:`TrialRecord` per
trial), from which :func:`select_trial` picks the trial to export (by number, or from the front
with :func:`~automtl.export.choice.choose_trial`) and :func:`load_artifacts` reads what the
trainable saved for it (``model.pt``, ``model_config.json``, ``candidate.json``; see
:mod:`automtl.search.trainable`).

The library never imports ``storage``: :func:`job_source` takes the service's trial rows as
plain objects with the row attributes, so the CLI and the REST route share this code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from automtl import artifact_store
from automtl.config import Candidate, ModelConfig
from automtl.export.choice import Choice, choose_trial
from automtl.export.errors import (
    ArtifactMissingError,
    ExportError,
    PreferenceError,
    TrialNotFinishedError,
    TrialNotFoundError,
)
from automtl.jobspec import JobSpec, JobSpecError, Objective, load_job_spec
from automtl.trial_record import (
    TrialOutcome,
    outcome_from_row,
    outcome_from_trial,
    state_label,
    study_attrs,
)

COMPLETE = "complete"
#: files the trainable writes into a trial's artifact directory
WEIGHTS_FILE, MODEL_CONFIG_FILE, CANDIDATE_FILE = "model.pt", "model_config.json", "candidate.json"


@dataclass(frozen=True)
class TrialRecord:
    """One trial as an export sees it: the fields of the trial's record
    (:data:`automtl.trial_record.TRIAL_FIELDS`, same names) an export reads, and the service
    row's id. ``state`` is lowercase (``complete``, ``running``, ``interrupted``: stopped by a
    cancel or the time limit before it finished, ...) and ``values`` maps
    objective names to validation values (complete trials only)."""

    number: int
    state: str
    values: dict[str, float] | None = None
    valid: dict[str, dict[str, float]] = field(default_factory=dict)
    test: dict[str, dict[str, float]] = field(default_factory=dict)
    num_params: int | None = None
    latency_ms: float | None = None
    artifact: str | None = None
    on_front: bool = False
    #: the storage row's primary key, when the trial comes from the service
    row_id: int | None = None


#: the record's fields an export reads (every :class:`TrialRecord` field but ``row_id``)
EXPORT_FIELDS: tuple[str, ...] = ("number", "state", "values", "valid", "test", "num_params",
                                  "latency_ms", "artifact", "on_front")


@dataclass(frozen=True)
class ExportSource:
    """A search to export from: its objectives, its trials and what to call it."""

    label: str
    objectives: list[Objective]
    trials: list[TrialRecord]
    #: written into ``config.yaml`` (``source:``) and the README: job id, name, study, ...
    info: dict[str, Any] = field(default_factory=dict)
    #: where a trial's artifacts are when the recorded path moved: ``<dir>/trial-<n>`` (a
    #: directory, or an fsspec URL: :mod:`automtl.artifact_store`)
    artifact_root: str | Path | None = None
    #: a service job's status (``cancelled``, ...); None for a local search
    status: str | None = None

    def trial(self, number: int) -> TrialRecord:
        for record in self.trials:
            if record.number == number:
                return record
        known = sorted(r.number for r in self.trials)
        listing = f"its trials are {_ranges(known)}" if known else "it has no trials yet"
        raise TrialNotFoundError(f"{self.label} has no trial {number}; {listing}")

    @property
    def front(self) -> list[TrialRecord]:
        return [r for r in self.trials if r.on_front and r.state == COMPLETE]


@dataclass(frozen=True)
class Selection:
    """The trial to export and, when it was chosen from the front, how."""

    record: TrialRecord
    choice: Choice | None = None


@dataclass(frozen=True)
class TrialArtifacts:
    """What the trainable saved for a trial, validated."""

    directory: Path
    model_config: ModelConfig
    candidate: Candidate
    weights_path: Path


def select_trial(source: ExportSource, trial: int | None = None,
                 prefer: Mapping[str, float] | None = None) -> Selection:
    """Trial ``trial``, or the front trial ``prefer`` weights choose (equal weights default).

    A trial that does not exist raises :class:`TrialNotFoundError`; one that is not complete,
    or a search without a complete front trial, :class:`TrialNotFinishedError`.
    """
    if trial is not None:
        if prefer:
            raise PreferenceError("give either a trial number or weights, not both")
        record = source.trial(trial)
        if record.state != COMPLETE:
            raise TrialNotFinishedError(
                f"trial {trial} of {source.label} is {record.state}, not finished: only "
                "complete trials have weights to export")
        return Selection(record)
    front = source.front
    if not front:
        raise TrialNotFinishedError(f"{source.label} has no Pareto front to choose from: "
                                    f"{_no_front_reason(source.trials, source.status)}")
    choice = choose_trial([(r.number, r.values or {}) for r in front], source.objectives, prefer)
    return Selection(source.trial(choice.number), choice)


def _no_front_reason(trials: Sequence[TrialRecord], status: str | None = None) -> str:
    """Why a search has no front, from its trials' states (and a service job's ``status``):
    cancelled before a trial started, none finished yet, complete ones not marked yet, every
    finished one stopped early (pruned) or failed, or stopped by a cancel or the time limit
    before they finished (interrupted: running the search again resumes them)."""
    states = [r.state for r in trials]
    if COMPLETE in states:
        return ("its complete trials are not marked on a front yet; pass a trial number of a "
                "complete trial")
    pruned = states.count("pruned")
    failed = sum(s in ("fail", "failed") for s in states)  # a study's name, the service's
    interrupted = states.count("interrupted")
    if status == "cancelled" and not (pruned or failed or interrupted):
        return ("it was cancelled before any trial finished, so nothing was trained; submit "
                "it again to run it")
    if not pruned and not failed and not interrupted:
        return "no trial has finished yet; pass a trial number once one is complete"
    parts = ([f"{pruned} pruned: stopped early at a rung or refused by a constraint"]
             if pruned else []) + ([f"{failed} failed"] if failed else []) + (
        [f"{interrupted} interrupted: stopped by a cancel or the time limit before it "
         "finished"] if interrupted else [])
    advice = ("run the search again to resume it (`automtl search` with the same spec and "
              "--out; a service job: POST /jobs/{id}/resume or `automtl resume JOB`): the "
              "interrupted trials are retried"
              if interrupted else "run again with a larger budget.trials")
    return (f"none of its {len(states)} trial(s) trained to its last epoch ("
            f"{' and '.join(parts)}), and only complete trials have weights to export; "
            f"{advice}")


def load_artifacts(source: ExportSource, record: TrialRecord) -> TrialArtifacts:
    """Read and validate the saved weights and configs of a complete trial."""
    candidates: list[str | Path] = [record.artifact] if record.artifact else []
    if source.artifact_root is not None:
        candidates.append(_child(source.artifact_root, f"trial-{record.number}"))
    directory = next((d for d in map(_local, candidates) if (d / WEIGHTS_FILE).is_file()), None)
    if directory is None:
        where = " or ".join(str(d) for d in candidates) or "no artifact path was recorded"
        raise ArtifactMissingError(f"the saved weights of trial {record.number} of "
                                   f"{source.label} are missing ({WEIGHTS_FILE} not found in "
                                   f"{where})")
    model_config = _read_model(directory / MODEL_CONFIG_FILE, ModelConfig, record, source)
    candidate = _read_model(directory / CANDIDATE_FILE, Candidate, record, source)
    return TrialArtifacts(directory, model_config, candidate, directory / WEIGHTS_FILE)


def _child(root: str | Path, name: str) -> str | Path:
    if artifact_store.is_url(root):
        return artifact_store.join(str(root), name)
    return Path(root) / name


def _local(location: str | Path) -> Path:
    """A trial folder as a local path: an fsspec URL is fetched into the local cache first."""
    if artifact_store.is_url(location):
        return artifact_store.fetch(str(location))
    return Path(location)


def _read_model(path: Path, kind: Any, record: TrialRecord, source: ExportSource) -> Any:
    if not path.is_file():
        raise ArtifactMissingError(f"trial {record.number} of {source.label}: {path} is missing")
    try:
        return kind.model_validate(json.loads(path.read_text()))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ExportError(f"trial {record.number} of {source.label}: {path} is not a valid "
                          f"{kind.__name__}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# the service: trial rows of a job


def data_rule(spec: JobSpec) -> dict[str, Any]:
    """How the search split and prepared its rows, for the bundle's ``train.py``:
    ``{"data": {"split": {...}, "seed": S, "missing": ..., "vocabulary": {...}}}``
    (``split`` is ``{"column": ..., "train": ..., ...}`` or ``{"valid": f, "test": f}``)."""
    dataset = spec.dataset
    split = getattr(dataset, "split", None)
    rule: dict[str, Any] = {"seed": spec.seed}
    if split is not None:
        rule["split"] = split.model_dump(mode="json")
    for key in ("missing", "vocabulary"):
        value = getattr(dataset, key, None)
        if value is not None:
            rule[key] = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    return {"data": rule}


def job_source(job_id: int, name: str, spec: Mapping[str, Any] | JobSpec,
               rows: Iterable[Any], *, study_name: str | None = None,
               artifact_root: str | Path | None = None,
               status: str | None = None) -> ExportSource:
    """A service job from its stored spec and trial rows (objects with the attributes of
    ``automtl_storage.Trial``: ``id`` and the record's columns,
    :data:`automtl.trial_record.TRIAL_COLUMNS`, read by
    :func:`~automtl.trial_record.outcome_from_row`).

    ``artifact_root`` is the service's artifact directory (or its fsspec artifact URL, see
    :mod:`automtl.artifact_store`): relative artifact paths are read
    under it, and a trial whose absolute (older) path no longer exists is looked up as
    ``<artifact_root>/<study_name>/trial-<n>``, where a moved or restored root keeps it.
    ``status`` (the job's) words the error of a job without a front (a cancelled one).
    """
    root: str | Path | None = artifact_root
    if root is not None and not artifact_store.is_url(root):
        root = Path(root)
    try:
        parsed = load_job_spec(spec)
    except JobSpecError as exc:
        raise ExportError(f"job {job_id}: its stored spec no longer validates: {exc}") from None
    records = []
    for row in rows:
        outcome = outcome_from_row(row)
        records.append(export_record(outcome, artifact=_under_root(outcome.artifact, root),
                                     row_id=row.id))
    info: dict[str, Any] = {"job": job_id, "name": name, **data_rule(parsed)}
    if study_name:
        info["study"] = study_name
    fallback = _child(root, study_name) if root is not None and study_name else None
    return ExportSource(label=f"job {job_id}", objectives=parsed.objective_list(),
                        trials=sorted(records, key=lambda r: r.number), info=info,
                        artifact_root=fallback, status=status)


def export_record(outcome: TrialOutcome, *, artifact: str | None = None,
                  row_id: int | None = None) -> TrialRecord:
    """The export's view of a trial's record (``artifact``: where to read it, when that is not
    the recorded path)."""
    fields = {name: getattr(outcome, name) for name in EXPORT_FIELDS}
    fields.update(state=state_label(outcome.state, outcome.interrupted),
                  valid=dict(outcome.valid),
                  test=dict(outcome.test), artifact=artifact or outcome.artifact)
    return TrialRecord(**fields, row_id=row_id)


def _under_root(stored: str | None, root: str | Path | None) -> str | None:
    """A stored artifact path as a path (or URL) to read: relative ones joined to ``root``
    (a directory or an fsspec URL)."""
    if stored is None or root is None or artifact_store.is_url(stored) \
            or Path(stored).is_absolute():
        return stored
    return str(_child(root, stored))


# ---------------------------------------------------------------------------------------------
# a local search: `automtl search --out DIR`


def search_dir_source(directory: str | Path, *, storage_url: str | None = None,
                      study_name: str | None = None) -> ExportSource:
    """A search run with ``automtl search --out DIR``: its study (in ``DIR/automtl.db`` unless
    ``storage_url`` says otherwise) and its artifacts under ``DIR/<study>/trial-<n>``."""
    import optuna

    from automtl.report.pareto import pareto_front
    from automtl.search.study import STUDY_SPEC_ATTR, open_storage

    directory = Path(directory).resolve()
    if storage_url is None:
        database = directory / "automtl.db"  # automtl.search.runner.default_storage_url
        if not database.is_file():
            raise ExportError(f"{directory} is not a search directory: {database.name} not "
                              "found (pass the --out of 'automtl search', or --db URL)")
        storage_url = f"sqlite:///{database}"
    storage = open_storage(storage_url)
    names = optuna.get_all_study_names(storage)
    if study_name is None:
        if len(names) != 1:
            raise ExportError(f"{storage_url} holds {len(names)} studies; choose one with "
                              f"--study: {sorted(names)}")
        study_name = names[0]
    elif study_name not in names:
        raise ExportError(f"no study {study_name!r} in {storage_url}; studies: {sorted(names)}")
    study = optuna.load_study(study_name=study_name, storage=storage)
    document = study_attrs(study).get(STUDY_SPEC_ATTR)
    if document is None:
        raise ExportError(f"study {study_name!r} was not made by automtl (no job spec stored)")
    spec = JobSpec.model_validate(document)
    front = {entry["number"] for entry in pareto_front(study, spec)["trials"]}
    objective_names = list(spec.objectives)
    records = [export_record(outcome_from_trial(trial, objective_names, front))
               for trial in study.get_trials(deepcopy=False)]
    return ExportSource(label=f"study {study_name}", objectives=spec.objective_list(),
                        trials=records,
                        info={"study": study_name, "name": spec.name,
                              "search_dir": str(directory), **data_rule(spec)},
                        artifact_root=directory / study_name)


def _ranges(numbers: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``."""
    spans: list[list[int]] = []
    for number in numbers:
        if spans and spans[-1][1] == number - 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
