"""Bounds on what one request may ask of the service, checked before anything is stored.

Three small checks that :mod:`automtl_api.submission` calls, each returning ``(path, message)``
pairs in the job-spec style:

- :func:`hostile_input_errors`: one iterative, linear walk over a raw JSON document: nesting
  depth, list lengths, string lengths, NUL characters, non-finite floats (JSON ``Infinity`` or
  ``NaN``) and integers outside a signed 64-bit range. It runs before pydantic sees the
  document, so a hostile body costs at most one pass and never a RecursionError or a database
  overflow.
- :func:`budget_errors`: the caps of the server's settings, or the owner's own (trials,
  epochs, concurrency, time limit, synthetic rows and features, tasks) and the trial resources
  against the largest node the cluster has, so a spec that could never finish is refused with
  422 instead of blocking the queue.
- :func:`upload_data_errors`: what the stored schema of an uploaded dataset already tells
  (non-finite or missing numeric features, a label listed as a feature, a split column without
  train/valid values, a wrong ``format``, too few rows), so the job does not fail in the worker.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from automtl.data.messages import missing_values
from automtl_api.settings import Settings

Errors = list[tuple[str, str]]

#: the signed 64-bit range (SQLite INTEGER; numpy/torch seeds use it too)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: PostgreSQL ``integer`` (our primary keys): larger ids cannot exist, so they are refused
ID_MAX = 2**31 - 1
#: seeds are handed to numpy, which takes 0 <= seed < 2**32
SEED_MAX = 2**32 - 1
#: a job needs rows in train and valid (and test, by default); fewer rows cannot be split
MIN_DATASET_ROWS = 10


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def hostile_input_errors(document: Any, *, max_depth: int, max_items: int,
                         max_string: int) -> Errors:
    """Problems of a raw JSON value that no field of a job spec may have (iterative, linear in
    the size of the document; stops at the first 20 problems)."""
    errors: Errors = []
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack and len(errors) < 20:
        value, path, depth = stack.pop()
        if depth > max_depth:
            errors.append((path, f"nested more than {max_depth} levels deep "
                                  "(AUTOMTL_MAX_JSON_DEPTH)"))
            continue
        if isinstance(value, Mapping):
            if len(value) > max_items:
                errors.append((path, f"has {len(value)} keys; at most {max_items} are allowed "
                                      "(AUTOMTL_MAX_LIST_ITEMS)"))
                continue
            for key, item in value.items():
                key_text = str(key)
                if "\x00" in key_text or len(key_text) > max_string:
                    errors.append((path, "a key holds a NUL character or is longer than "
                                          f"{max_string} characters (AUTOMTL_MAX_STRING_CHARS)"))
                    continue
                stack.append((item, _child_path(path, key_text), depth + 1))
        elif isinstance(value, list):
            if len(value) > max_items:
                errors.append((path, f"has {len(value)} items; at most {max_items} are allowed "
                                      "(AUTOMTL_MAX_LIST_ITEMS)"))
                continue
            stack.extend((item, _child_path(path, i), depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            if "\x00" in value:
                errors.append((path, "must not contain NUL characters"))
            elif len(value) > max_string:
                errors.append((path, f"is {len(value)} characters long; at most {max_string} "
                                      "(AUTOMTL_MAX_STRING_CHARS)"))
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                errors.append((path, f"integer out of range (at most {INT64_MAX})"))
        elif isinstance(value, float) and not math.isfinite(value):
            errors.append((path, f"must be a finite number, got {value}"))
    errors.sort()
    return errors


def _number(document: Mapping[str, Any], *keys: str) -> Any:
    value: Any = document
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def budget_errors(document: Mapping[str, Any], settings: Settings,
                  owner_limits: Mapping[str, Any] | None = None) -> Errors:
    """The caps of ``settings`` (``AUTOMTL_MAX_*``, with ``owner_limits`` in place of the
    server's where an owner has their own) and the cluster's largest node, applied to a raw
    spec (fields of the wrong type are left to the spec's own validation)."""
    errors: Errors = []
    owner_limits = owner_limits or {}
    settings = settings.for_owner(owner_limits)

    def over(value: Any, name: str) -> str:
        cap = getattr(settings, name)
        if name in owner_limits:
            return f"{value} is over your limit of {cap} (set for your account by the " \
                   "server's administrator)"
        return f"{value} is over this server's limit of {cap} (AUTOMTL_{name.upper()})"

    caps = (
        (("budget", "trials"), "max_trials"),
        (("budget", "epochs"), "max_epochs"),
        (("budget", "concurrency"), "max_concurrency"),
        (("budget", "max_failures"), "max_trials"),
        (("budget", "time_limit_s"), "max_time_limit_s"),
    )
    for keys, name in caps:
        value = _number(document, *keys)
        if value is not None and value > getattr(settings, name):
            errors.append((".".join(keys), over(value, name)))
    seed_fields: tuple[tuple[str, ...], ...] = (("seed",), ("dataset", "seed"))
    for seed_keys in seed_fields:
        value = _number(document, *seed_keys)
        if value is not None and not 0 <= value <= SEED_MAX:
            errors.append((".".join(seed_keys), f"a seed is in [0, {SEED_MAX}], got {value}"))
    dataset = document.get("dataset")
    if isinstance(dataset, Mapping) and dataset.get("builtin") == "synthetic":
        rows = _number(dataset, "rows")
        features = _number(dataset, "features")
        if rows is not None and rows > settings.max_synthetic_rows:
            errors.append(("dataset.rows", over(rows, "max_synthetic_rows")))
        if features is not None and features > settings.max_features:
            errors.append(("dataset.features", f"{features} is over this server's limit of "
                                               f"{settings.max_features} "
                                               "(AUTOMTL_MAX_FEATURES)"))
    errors += resource_errors(document, settings)
    return errors


def size_errors(document: Mapping[str, Any], settings: Settings) -> Errors:
    """Lists of a raw spec longer than the server allows (checked before the spec is parsed,
    so the cost of validating a spec is bounded)."""
    errors: Errors = []
    dataset = document.get("dataset")
    tasks = document.get("tasks")
    if isinstance(tasks, list) and len(tasks) > settings.max_tasks:
        errors.append(("tasks", f"{len(tasks)} tasks is over this server's limit of "
                                f"{settings.max_tasks} (AUTOMTL_MAX_TASKS)"))
    features = dataset.get("features") if isinstance(dataset, Mapping) else None
    if isinstance(features, Mapping):
        for kind in ("numeric", "categorical"):
            names = features.get(kind)
            if isinstance(names, list) and len(names) > settings.max_features:
                errors.append((f"dataset.features.{kind}", f"{len(names)} columns is over this "
                               f"server's limit of {settings.max_features} "
                               "(AUTOMTL_MAX_FEATURES)"))
    return errors


def resource_errors(document: Mapping[str, Any], settings: Settings) -> Errors:
    """Trial resources no node of the cluster has: such a trial would wait forever."""
    errors: Errors = []
    node_cpus, node_gpus = settings.max_cpus_per_trial, settings.max_gpus_per_trial
    cpus = _number(document, "resources", "cpus_per_trial")
    gpus = _number(document, "resources", "gpus_per_trial")
    if cpus is not None and node_cpus is not None and cpus > node_cpus:
        errors.append(("resources.cpus_per_trial", f"{cpus} CPUs per trial, but the largest "
                                                   f"node has {node_cpus} "
                                                   "(AUTOMTL_MAX_CPUS_PER_TRIAL)"))
    if gpus is not None and node_gpus is not None and gpus > 0 and gpus > node_gpus:
        have = "no GPU" if node_gpus == 0 else f"{node_gpus} GPU(s)"
        errors.append(("resources.gpus_per_trial", f"{gpus} GPUs per trial, but the largest "
                                                   f"node has {have} (AUTOMTL_MAX_GPUS_PER_TRIAL)"))
    return errors


def upload_data_errors(dataset: Mapping[str, Any], tasks: list[Any],
                       schema: Mapping[str, Any]) -> Errors:
    """Problems a job on an uploaded dataset would meet in the worker, told by the dataset's
    stored schema (``rows``, ``format`` and per column ``kind``, ``missing``, ``infinite``,
    ``values``) and the raw ``dataset`` and ``tasks`` of the spec."""
    errors: Errors = []
    columns = {str(c["name"]): c for c in schema.get("columns", [])}
    rows = int(schema.get("rows", 0))
    if rows < MIN_DATASET_ROWS:
        errors.append(("dataset.id", f"the dataset has {rows} row(s); a search needs at least "
                                     f"{MIN_DATASET_ROWS} (train, valid and test splits)"))
    fmt, stored = dataset.get("format"), schema.get("format")
    if fmt is not None and stored is not None and fmt != stored:
        errors.append(("dataset.format", f"the dataset was uploaded as {stored}, not {fmt}"))
    labels = {str(t.get("label") or t.get("name")) for t in tasks if isinstance(t, Mapping)}
    split = dataset.get("split")
    split_column = split.get("column") if isinstance(split, Mapping) else None
    impute = dataset.get("missing", "impute") != "error"
    features = dataset.get("features")
    if isinstance(features, Mapping):
        numeric = features.get("numeric") or []
        categorical = features.get("categorical") or []
        if isinstance(numeric, list) and isinstance(categorical, list) and \
                not numeric and not categorical:
            errors.append(("dataset.features", "no feature columns: list numeric or "
                                               "categorical features (or leave features out "
                                               "to infer them)"))
        for kind, names in (("numeric", numeric), ("categorical", categorical)):
            for i, name in enumerate(names if isinstance(names, list) else []):
                where = f"dataset.features.{kind}[{i}]"
                if name in labels:
                    errors.append((where, f"column {name!r} is a task's label; a label cannot "
                                          "also be a feature"))
                elif name == split_column:
                    errors.append((where, f"column {name!r} is the split column"))
                elif kind == "numeric" and name in columns:
                    errors += _numeric_feature_errors(where, columns[name], impute)
    elif not isinstance(features, Mapping):
        inferred = [c for n, c in columns.items() if c.get("kind") == "numeric"
                    and n not in labels and n != split_column]
        for column in inferred:
            errors += _numeric_feature_errors("dataset.features", column, impute)
    if isinstance(split_column, str) and split_column in columns and isinstance(split, Mapping):
        errors += _split_errors(split, columns[split_column])
    return errors


def _numeric_feature_errors(where: str, column: Mapping[str, Any], impute: bool) -> Errors:
    """Infinite values always fail in the worker; missing ones only with ``missing: error``
    (the default ``impute`` fills them with the train mean and an indicator)."""
    name = column["name"]
    if column.get("kind") != "numeric":
        return [(where, f"column {name!r} is {column.get('dtype')}, not numeric")]
    if column.get("infinite"):
        return [(where, f"numeric feature {name!r} has {column['infinite']} infinite "
                        "value(s)")]
    if column.get("missing") and not impute:
        return [(where, missing_values(name, column["missing"], "in the whole table"))]
    return []


def _split_errors(split: Mapping[str, Any], column: Mapping[str, Any]) -> Errors:
    name = column["name"]
    if column.get("missing"):
        return [("dataset.split.column", f"split column {name!r} has {column['missing']} "
                                         "missing value(s)")]
    values = column.get("values")
    if values is None:  # too many distinct values to have been recorded: cannot be a split
        return [("dataset.split.column", f"split column {name!r} has too many distinct values "
                                         "to name train/valid/test")]
    wanted = {key: str(split.get(key, key)) for key in ("train", "valid", "test")}
    errors: Errors = []
    unknown = sorted(set(values) - set(wanted.values()))
    if unknown:
        errors.append(("dataset.split.column", f"split column {name!r} has values "
                                               f"{unknown[:5]} that are none of "
                                               f"{sorted(wanted.values())}"))
    for key in ("train", "valid"):
        if wanted[key] not in values:
            errors.append((f"dataset.split.{key}", f"split column {name!r} has no "
                                                   f"{wanted[key]!r} rows"))
    return errors
