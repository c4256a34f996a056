"""Validate a job spec submitted over REST completely, before anything is stored.

On top of :func:`automtl.jobspec.load_job_spec`, a REST spec may only read the caller's own
uploads (``dataset: {id: ...}``) or a built-in dataset: a server ``path`` is refused, and the
census-income builtin reads the server's configured directory (``AUTOMTL_CENSUS_DIR``), never a
path from the request. Task labels, feature lists and a split column must name columns the
dataset has. Every problem is reported at once as ``(path, message)``.

The pre-trial data checks (every task labelled, with both classes for a binary task, in the
train and valid splits; label values; split sizes) run at submit time for every dataset kind:
an upload, the synthetic generator and census-income, so a job whose trials could only fail is
refused with 422 instead of failing in the worker. A built-in dataset's verdict is cached per
settings (and, for census-income, per file size and time), so resubmitting does not reload it.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from automtl.config import MAX_CLASSES, binary_label_message
from automtl.data.messages import column_not_found
from automtl.jobspec import (
    CensusIncomeDatasetSpec,
    JobSpec,
    JobSpecError,
    SyntheticDatasetSpec,
    load_job_spec,
)
from automtl_api.settings import Settings
from automtl_api.spec_limits import (
    ID_MAX,
    budget_errors,
    hostile_input_errors,
    size_errors,
    upload_data_errors,
)
from automtl_storage import Dataset, DatasetRepository, JobRepository

Errors = list[tuple[str, str]]
#: a cached data check: the problem ``(message, column, field, task, task_field)`` or None,
#: and the data's warnings
_Verdict = tuple[tuple[str, str | None, str | None, str | None, str | None] | None,
                 tuple[str, ...]]
_DATASET_ID = re.compile(r"[0-9]{1,10}")  # ASCII digits only ("²".isdigit() is true)
_NO_CENSUS = "census-income is not available on this server (AUTOMTL_CENSUS_DIR is not set)"


@dataclass(frozen=True)
class ValidatedJob:
    """A spec ready to store: the normalised document, the parsed spec, the uploaded dataset."""

    spec: JobSpec
    document: dict[str, Any]
    dataset: Dataset | None
    #: what makes the job's results doubtful without refusing it (a binary task with too few
    #: of one class in the valid or test split), one line each
    warnings: tuple[str, ...] = ()


def validate_submission(document: Any, owner_id: int, session: Session,
                        settings: Settings,
                        owner_limits: Mapping[str, Any] | None = None) -> ValidatedJob:
    """The validated job or :class:`JobSpecError` listing every bad field with its path;
    ``owner_limits`` are the owner's own caps (``automtl_owners.limits``)."""
    if not isinstance(document, Mapping):
        raise JobSpecError([("", f"a job spec is a JSON object, got {type(document).__name__}")])
    bounds = hostile_input_errors(document, max_depth=settings.max_json_depth,
                                  max_items=settings.max_list_items,
                                  max_string=settings.max_string_chars)
    bounds = bounds or size_errors(document, settings)
    if bounds:  # refused before any costlier check
        raise JobSpecError(bounds)
    doc = copy.deepcopy(dict(document))
    errors: Errors = budget_errors(doc, settings, owner_limits)
    dataset_row: Dataset | None = None
    columns: list[str] | None = None
    column_info: dict[str, dict[str, Any]] = {}
    raw = doc.get("dataset")
    if isinstance(raw, Mapping):
        raw = dict(raw)
        doc["dataset"] = raw
        errors += _server_paths(raw, settings)
        if "id" in raw and "builtin" not in raw:
            dataset_row, id_errors = _owned_dataset(raw, owner_id, session)
            errors += id_errors
            if dataset_row is not None:
                column_info = {c["name"]: c for c in dataset_row.detected_schema["columns"]}
                columns = list(column_info)
                tasks = doc.get("tasks")
                errors += upload_data_errors(raw, tasks if isinstance(tasks, list) else [],
                                             dataset_row.detected_schema)
        elif raw.get("builtin") == "synthetic":
            columns = _synthetic_columns(raw)
        elif raw.get("builtin") == "census-income":
            from automtl.data.census import CENSUS_TASKS

            columns = [str(t.label) for t in CENSUS_TASKS]
    spec: JobSpec | None = None
    try:
        spec = load_job_spec(doc)
    except JobSpecError as exc:
        # each at its field (tasks[0].metric), as the CLI prints it; with the cross-field
        # checks pydantic skipped (search space, objectives: load_job_spec runs them too)
        errors += exc.errors
    if ("dataset.builtin", _NO_CENSUS) in errors:  # its missing path is the server's, not yours
        errors = [e for e in errors if e[0] != "dataset.path"]
    if columns is not None:
        errors += _column_errors(doc, columns, uploaded=dataset_row is not None)
        # a task with a bad key of its own (tasks[1].typ) has no type to check its label
        # against: its type fell back to binary, and the derived error would mislead
        errors += [(path, message) for path, message in _label_type_errors(doc, column_info)
                   if not any(p.startswith(path.rsplit(".", 1)[0] + ".") for p, _ in errors)]
    if spec is not None and spec.warm_start is not None:
        errors += _warm_start_errors(spec.warm_start, owner_id, session)
    warnings: tuple[str, ...] = ()
    if not errors and spec is not None and dataset_row is not None:
        data_errors, warnings = _data_errors(spec, dataset_row, settings)
        errors += data_errors
    elif not errors and spec is not None and \
            isinstance(spec.dataset, SyntheticDatasetSpec | CensusIncomeDatasetSpec):
        data_errors, warnings = _builtin_data_errors(spec)
        errors += data_errors
    if errors:
        raise JobSpecError(_unique(errors))
    assert spec is not None
    return ValidatedJob(spec=spec, document=json.loads(spec.model_dump_json()),
                        dataset=dataset_row, warnings=warnings)


def _data_errors(spec: JobSpec, dataset: Dataset,
                 settings: Settings) -> tuple[Errors, tuple[str, ...]]:
    """The pre-trial data checks on an uploaded dataset (every task labelled, with both classes
    for a binary task, in the train and valid splits; label values; features), so a job whose
    trials could only fail is refused with 422 instead of failing after the queue.

    The check loads the whole table, linear in its size (under load it was a third of the
    API's CPU), and its verdict depends only on the upload's bytes and the spec's dataset
    section, tasks, seed and domains: it is kept for those (an upload never changes).
    Returns the errors and the data's warnings."""
    found, warnings = _cached_upload_check(
        str(settings.data_dir / dataset.storage_path), dataset.content_hash,
        spec.dataset.model_dump_json(), json.dumps([t.model_dump(mode="json")
                                                    for t in spec.tasks]),
        spec.seed, spec.domains.model_dump_json() if spec.domains is not None else "")
    if found is None:
        return [], warnings
    message, column, field, task, task_field = found
    return [(_data_error_path(spec, _Problem(column, field, task, task_field)), message)], ()


@functools.lru_cache(maxsize=64)
def _cached_upload_check(path: str, content_hash: str, dataset_json: str, tasks_json: str,
                         seed: int, domains_json: str) -> _Verdict:
    """``(problem, warnings)``: the problem ``(message, column, field, task, task_field)`` of
    the DataError loading the upload at ``path`` raises, or None when it passes, and the
    loaded data's warnings (``content_hash`` keys the cache to the file's bytes). The task and
    its field travel too, so a cached verdict names ``tasks[i].type``."""
    from automtl.config import DomainSpec, TaskSpec
    from automtl.data import DataError
    from automtl.jobspec import UploadedDatasetSpec
    from automtl.search.datasets import load_dataset

    dataset = UploadedDatasetSpec.model_validate_json(dataset_json)
    tasks = [TaskSpec.model_validate(t) for t in json.loads(tasks_json)]
    domains = DomainSpec.model_validate_json(domains_json) if domains_json else None
    try:
        loaded = load_dataset(dataset, tasks, seed, lambda _: Path(path).resolve(),
                              domains=domains)
    except DataError as exc:
        return (str(exc), exc.column, exc.field, exc.task, exc.task_field), ()
    return None, tuple(loaded.warnings)


def _builtin_data_errors(spec: JobSpec) -> tuple[Errors, tuple[str, ...]]:
    """The same pre-trial checks on a built-in dataset (synthetic, census-income): split sizes,
    labelled rows and classes per task and split. A census-income directory without its files
    is the server's problem, reported on ``dataset.builtin``."""
    dataset = json.loads(spec.dataset.model_dump_json())
    stamp = _census_stamp(dataset["path"]) if dataset["builtin"] == "census-income" else ""
    found, warnings = _cached_builtin_check(
        json.dumps(dataset, sort_keys=True),
        json.dumps([t.model_dump(mode="json") for t in spec.tasks]), spec.seed, stamp)
    if found is None:
        return [], warnings
    message, column, field, task, task_field = found
    if dataset["builtin"] == "census-income" and field == "path":
        return [("dataset.builtin", f"census-income is not available on this server: "
                                    f"{message}")], ()
    return [(_data_error_path(spec, _Problem(column, field, task, task_field)), message)], ()


@dataclass(frozen=True)
class _Problem:
    column: str | None
    field: str | None
    task: str | None = None
    task_field: str | None = None


def _census_stamp(path: str) -> str:
    """Size and modification time of the census files, so a cached verdict follows them."""
    root = Path(path)
    files = sorted(root.glob("census-income.*")) if root.is_dir() else [root]
    return ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}"
                    for f in files if f.is_file())


@functools.lru_cache(maxsize=64)
def _cached_builtin_check(dataset_json: str, tasks_json: str, seed: int,
                          stamp: str) -> _Verdict:
    """:func:`_cached_upload_check` for a built-in dataset (``stamp`` only keys the
    cache)."""
    from automtl.config import TaskSpec
    from automtl.data import DataError
    from automtl.search.datasets import load_dataset

    raw = json.loads(dataset_json)
    dataset = (SyntheticDatasetSpec if raw["builtin"] == "synthetic"
               else CensusIncomeDatasetSpec).model_validate(raw)
    tasks = [TaskSpec.model_validate(t) for t in json.loads(tasks_json)]
    try:
        loaded = load_dataset(dataset, tasks, seed)
    except DataError as exc:
        return (str(exc), exc.column, exc.field, exc.task, exc.task_field), ()
    return None, tuple(loaded.warnings)


def _data_error_path(spec: JobSpec, exc: Any) -> str:
    """The spec path a DataError points at (:func:`automtl.jobspec.data_error_path`)."""
    from automtl.jobspec import data_error_path

    return data_error_path(spec, exc)


def _server_paths(raw: dict[str, Any], settings: Settings) -> Errors:
    """Refuse server paths; point the census builtin at the configured directory."""
    if raw.get("builtin") == "census-income":
        if "path" in raw:
            return [("dataset.path", "census-income is read from the server's configured "
                                     "directory (AUTOMTL_CENSUS_DIR); a job cannot give a path")]
        if settings.census_dir is None:
            return [("dataset.builtin", _NO_CENSUS)]
        raw["path"] = str(settings.census_dir.resolve())
        return []
    if "path" in raw:
        return [("dataset.path", "a job submitted over the API cannot read a server path: "
                                 "upload the file (POST /api/v1/datasets) and use "
                                 "{id: DATASET_ID}, or a builtin dataset")]
    return []


def _warm_start_errors(warm: Any, owner_id: int, session: Session) -> Errors:
    """``warm_start`` over REST names one of the owner's jobs, never a server folder."""
    if warm.directory is not None:
        return [("warm_start.directory", "a job submitted over the API warm-starts from one "
                                         "of your jobs: {job: JOB_ID}, not a server folder")]
    source = JobRepository(session).get(int(warm.job))
    if source is None or source.owner_id != owner_id:
        return [("warm_start.job", f"job {warm.job} not found (GET /api/v1/jobs lists yours)")]
    return []


def _owned_dataset(raw: dict[str, Any], owner_id: int,
                   session: Session) -> tuple[Dataset | None, Errors]:
    value = raw["id"]
    if isinstance(value, bool) or not isinstance(value, int | str) or \
            not _DATASET_ID.fullmatch(str(value).strip()) or int(str(value).strip()) > ID_MAX:
        return None, [("dataset.id", f"a dataset id is a number from POST /api/v1/datasets "
                                     f"(1 to {ID_MAX}), got {str(value)[:40]!r}")]
    value = int(str(value).strip())
    raw["id"] = str(int(value))
    dataset = DatasetRepository(session).get_for_owner(int(value), owner_id)
    if dataset is None:
        return None, [("dataset.id", f"dataset {int(value)} not found (upload it with "
                                     "POST /api/v1/datasets; GET /api/v1/datasets lists yours)")]
    if raw.get("format") is None:
        raw["format"] = dataset.detected_schema.get("format")
    return dataset, []


def _synthetic_columns(raw: Mapping[str, Any]) -> list[str] | None:
    """The columns the synthetic generator makes for these settings (None if they are bad,
    which the spec validation reports)."""
    from automtl.data import make_synthetic

    features, categorical = raw.get("features", 100), raw.get("categorical", 0)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
               for v in (features, categorical)) or features < 1:
        return None
    frame = make_synthetic(rows=8, features=features, categorical=categorical,
                           binary=bool(raw.get("binary", True)))
    return [str(c) for c in frame.columns]


def _column_errors(doc: Mapping[str, Any], columns: list[str], *, uploaded: bool) -> Errors:
    """Task labels, feature lists and the split column must be columns of the dataset."""
    errors: Errors = []
    tasks = doc.get("tasks")
    for i, task in enumerate(tasks if isinstance(tasks, list) else []):
        if not isinstance(task, Mapping):
            continue
        key = "label" if task.get("label") is not None else "name"
        label = task.get(key)
        if isinstance(label, str) and label not in columns:
            role = f"task {task.get('name')!r}: label column"
            errors.append((f"tasks[{i}].{key}", column_not_found(role, label, columns)))
    dataset = doc.get("dataset")
    if not uploaded or not isinstance(dataset, Mapping):
        return errors
    features = dataset.get("features")
    if isinstance(features, Mapping):
        for kind in ("numeric", "categorical"):
            names = features.get(kind)
            for i, name in enumerate(names if isinstance(names, list) else []):
                if isinstance(name, str) and name not in columns:
                    errors.append((f"dataset.features.{kind}[{i}]",
                                   column_not_found("feature column", name, columns)))
    split = dataset.get("split")
    if isinstance(split, Mapping) and isinstance(split.get("column"), str) and \
            split["column"] not in columns:
        errors.append(("dataset.split.column",
                       column_not_found("split column", split["column"], columns)))
    return errors


def _integer_codes(column: Mapping[str, Any]) -> bool:
    """Whether an upload's column holds only non-negative integers: its ``integer_codes``
    (uploads since it was recorded), else its few recorded ``values``, else its detected
    kind (an integer column read as codes)."""
    if "integer_codes" in column:
        return bool(column["integer_codes"])
    values = column.get("values")
    if isinstance(values, list) and column.get("numeric"):
        try:
            numbers = [float(v) for v in values]
        except ValueError:
            return False
        return all(v >= 0 and v == int(v) for v in numbers)
    return str(column.get("reason", "")).startswith("integer codes")


def _non_binary_values(column: Mapping[str, Any]) -> list[float] | None:
    """The values other than 0/1 of an upload's column from its few recorded ``values``, or
    ``None`` when they are not recorded (many values) or not all numbers."""
    values = column.get("values")
    if not isinstance(values, list):
        return None
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return None
    return [v for v in numbers if v not in (0.0, 1.0)] or None


def _label_type_errors(doc: Mapping[str, Any], info: dict[str, dict[str, Any]]) -> Errors:
    """A binary task needs a 0/1 column, a regression task a numeric one, a multiclass task
    more than two and at most ``MAX_CLASSES`` values (upload schema)."""
    errors: Errors = []
    tasks = doc.get("tasks")
    for i, task in enumerate(tasks if isinstance(tasks, list) else []):
        if not isinstance(task, Mapping):
            continue
        column = info.get(str(task.get("label") or task.get("name")))
        if column is None:
            continue
        kind = task.get("type", "binary")
        if kind == "binary" and column.get("binary") is False:
            errors.append((f"tasks[{i}].type", binary_label_message(
                str(task.get("name")), column["name"], _non_binary_values(column),
                _integer_codes(column), int(column.get("distinct") or 0))))
        elif kind == "multiclass" and column.get("binary") is True:
            errors.append((f"tasks[{i}].type", f"a multiclass task needs 3 or more classes; "
                                               f"{column['name']!r} holds 0/1 values (use "
                                               "type: binary)"))
        elif kind == "multiclass" and int(column.get("distinct") or 0) > MAX_CLASSES:
            errors.append((f"tasks[{i}].type", f"{column['name']!r} has "
                                               f"{column['distinct']} distinct values, over "
                                               f"the limit of {MAX_CLASSES} classes of a "
                                               "multiclass task"))
        elif kind == "regression" and not column.get("numeric", column.get("kind") == "numeric"):
            errors.append((f"tasks[{i}].type", f"a regression task needs a numeric label "
                                               f"column; {column['name']!r} is "
                                               f"{column['dtype']}"))
    return errors


def _unique(errors: Errors) -> Errors:
    seen: set[tuple[str, str]] = set()
    out = []
    for error in errors:
        if error not in seen:
            seen.add(error)
            out.append(error)
    return out
