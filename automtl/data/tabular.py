"""A multi-task tabular dataset from a DataFrame or a CSV/Parquet file, encoded once to tensors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from automtl.config import DomainSpec, InputSchema, MissingPolicy, TaskSpec, validate_task_list
from automtl.data.base import SplitTensors
from automtl.data.checks import (
    TaskCounts,
    check_splits,
    label_like_warnings,
    rare_class_warnings,
    stratification_classes,
)
from automtl.data.domains import check_domain_column
from automtl.data.encode import (
    MAX_VOCABULARY,
    MIN_FREQUENCY,
    class_texts,
    encode_frame,
    encode_parts,
    finite_numeric,
    fit_schema,
    label_values,
)
from automtl.data.errors import DataError
from automtl.data.io import (
    FeatureDecision,
    TableFormat,
    check_unique_columns,
    infer_feature,
    is_binary,
    read_table,
)
from automtl.data.messages import column_not_found
from automtl.data.split import SPLITS, split_by_column, split_by_fractions


def resolve_features(frame: pd.DataFrame, reserved: Sequence[str],
                     numeric: Sequence[str] | None, categorical: Sequence[str] | None,
                     exclude: Sequence[str] = (),
                     decisions: dict[str, FeatureDecision] | None = None
                     ) -> tuple[list[str], list[str]]:
    """The numeric and categorical feature columns, listed or inferred.

    With both lists None every column that is not ``reserved`` (labels, weights, split column)
    or ``exclude``\\ d is a feature, its kind inferred by
    :func:`~automtl.data.io.infer_feature` (integer codes and id-like names are categorical);
    each decision and its reason is written into ``decisions`` when given. Given lists are used
    as is (None counts as empty); a listed column must exist and must not be a label or the
    split column.
    """
    columns = list(frame.columns)
    for name in exclude:
        if name not in columns:
            raise DataError(column_not_found("excluded column", name, columns), column=name)
    if numeric is None and categorical is None:
        inferred: dict[str, list[str]] = {"numeric": [], "categorical": []}
        for name in columns:
            if name in reserved or name in exclude:
                continue
            decision = infer_feature(frame[name], name)
            if decision.kind is None:
                raise DataError(f"column {name!r} has dtype {frame[name].dtype} that is neither "
                                "numeric nor categorical; convert it, exclude it or list the "
                                "features", column=name)
            inferred[decision.kind].append(name)
            if decisions is not None:
                decisions[name] = decision
        return inferred["numeric"], inferred["categorical"]
    numeric_list, categorical_list = list(numeric or []), list(categorical or [])
    seen: set[str] = set()
    for name in numeric_list + categorical_list:
        if name not in columns:
            raise DataError(column_not_found("feature column", name, columns), column=name)
        if name in reserved:
            raise DataError(f"column {name!r} is a label or the split column and cannot also "
                            "be a feature", column=name)
        if name in seen:
            raise DataError(f"feature column {name!r} is listed twice", column=name)
        seen.add(name)
        if decisions is not None:
            kind = "numeric" if name in numeric_list else "categorical"
            decisions[name] = FeatureDecision(kind, f"listed as {kind}")  # type: ignore[arg-type]
    return numeric_list, categorical_list


class TabularDataset:
    """Feature/label tensors of the train, valid and test splits, plus the fitted input schema.

    ``data`` is a DataFrame or a CSV/Parquet path; ``tasks`` name a label column each (type
    binary, regression or multiclass; NaN = row outside the task's sample space). Rows are
    split either by ``valid_fraction``/``test_fraction`` with ``seed`` (stratified on the
    rarest binary or multiclass task unless ``stratify=False``), or by ``split_column``
    whose values name the split (``split_values`` maps train/valid/test to them). Numeric
    features are imputed (``missing``) and standardised, vocabularies built (capped by
    ``max_vocabulary`` and ``min_frequency``), regression labels scaled and multiclass classes
    listed from the train rows only. Everything is
    encoded once with :func:`~automtl.data.encode.encode_parts`, the same preprocessing that
    :func:`~automtl.data.encode.encode_frame` applies to new data for an export. The splits are
    then checked (:func:`~automtl.data.checks.check_splits`): a task without labelled rows, or
    a binary task with one class, in the train or valid split is a :class:`DataError`.

    ``feature_decisions`` holds each feature column's kind and the reason for it,
    ``task_counts`` the labelled rows (and positives) per task and split.

    With ``domains`` (a multi-domain job, :mod:`automtl.domains`) the domain column is checked
    (:func:`~automtl.data.domains.check_domain_column`) and made a categorical feature, and
    ``tasks`` become one task per (task, domain value) whose labels are masked to that domain's
    rows; ``base_tasks`` keeps the tasks as given.
    """

    def __init__(self, data: pd.DataFrame | str | Path, tasks: Sequence[TaskSpec], *,
                 numeric: Sequence[str] | None = None,
                 categorical: Sequence[str] | None = None, exclude: Sequence[str] = (),
                 valid_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0,
                 split_column: str | None = None, split_values: Mapping[str, str] | None = None,
                 format: TableFormat | None = None, missing: MissingPolicy = "impute",
                 max_vocabulary: int | None = MAX_VOCABULARY,
                 min_frequency: int = MIN_FREQUENCY, stratify: bool = True,
                 domains: DomainSpec | None = None) -> None:
        from automtl.domains import expand_tasks

        frame = data if isinstance(data, pd.DataFrame) else read_table(data, format)
        frame = frame.rename(columns=str)
        check_unique_columns(frame)
        try:
            self.base_tasks: list[TaskSpec] = validate_task_list(list(tasks))
            self.tasks: list[TaskSpec] = validate_task_list(expand_tasks(tasks, domains))
        except ValueError as exc:
            raise DataError(str(exc), field="tasks") from None
        if domains is not None:
            check_domain_column(frame, domains)
        labels = [str(t.label) for t in self.tasks]
        for task, column in zip(self.tasks, labels, strict=True):
            if column not in frame.columns:
                raise DataError(column_not_found(f"task {task.name!r}: label column", column,
                                                 list(frame.columns)),
                                column=column, task=task.name, task_field=task.label_field)
        weights = [t.weight for t in self.tasks if t.weight is not None]
        for task in self.tasks:
            if task.weight is not None and task.weight not in frame.columns:
                raise DataError(column_not_found(f"task {task.name!r}: weight column",
                                                 task.weight, list(frame.columns)),
                                column=task.weight, task=task.name, task_field="weight")
        reserved = list(labels) + weights
        #: the task whose classes stratified the random split (None: not stratified)
        self.stratified_on: str | None = None
        if split_column is not None:
            if split_column not in frame.columns:
                raise DataError(column_not_found("split column", split_column,
                                                 list(frame.columns)), column=split_column)
            if split_column in labels:
                raise DataError(f"split column {split_column!r} is also a label column",
                                column=split_column)
            reserved.append(split_column)
            rows = split_by_column(frame[split_column], split_column, split_values)
        else:
            classes = None
            if stratify:
                values = {t.name: label_values(frame[str(t.label)], t)
                          for t in self.tasks if t.type == "binary"}
                for task in self.tasks:
                    if task.type == "multiclass":
                        codes = class_texts(frame[str(task.label)], task)[0]
                        values[task.name] = np.where(codes >= 0, codes, np.nan)
                self.stratified_on, classes = stratification_classes(values, self.tasks)
            rows = split_by_fractions(len(frame), valid_fraction, test_fraction, seed,
                                      stratify=classes)
        #: column -> how it is used as a feature and why (inferred or listed)
        self.feature_decisions: dict[str, FeatureDecision] = {}
        if domains is not None:
            if domains.column in reserved:
                raise DataError(f"domains.column: {domains.column!r} is a label, weight or the "
                                "split column", column=domains.column, field="domains.column")
            if numeric is not None and domains.column in numeric:
                raise DataError(f"domains.column: {domains.column!r} is listed as a numeric "
                                "feature; the domain column is categorical",
                                column=domains.column, field="domains.column")
            if numeric is None and categorical is None:
                reserved = [*reserved, domains.column]  # inferred features: added below
            else:
                categorical = [c for c in categorical or [] if c != domains.column]
        self.numeric_columns, self.categorical_columns = resolve_features(
            frame, reserved, numeric, categorical, exclude, self.feature_decisions)
        #: inferred feature columns holding only 0/1 (both present): another target, perhaps
        self.label_like_features: list[str] = [] if numeric is not None or \
            categorical is not None else [
                name for name in (*self.numeric_columns, *self.categorical_columns)
                if is_binary(frame[name]) and frame[name].dropna().nunique() == 2]
        if domains is not None:  # the domain is an input the model knows about (star)
            self.categorical_columns.append(domains.column)
            self.feature_decisions[domains.column] = FeatureDecision(
                "categorical", "the domain column (domains.column)")
        #: positional row indices of each split in the source frame (each in row order)
        self.split_rows: dict[str, np.ndarray] = rows
        #: numeric feature -> its missing values in the whole table (imputed; only those with)
        self.missing_counts: dict[str, int] = {} if missing == "error" else {
            name: int(frame[name].isna().sum()) for name in self.numeric_columns
            if frame[name].isna().any()}
        if missing == "error":  # worded as the REST submit words it, from the stored schema
            for name in self.numeric_columns:
                finite_numeric(frame, name, "in the whole table", first_row=False)
        self.schema: InputSchema = fit_schema(
            frame, self.numeric_columns, self.categorical_columns, self.tasks,
            missing=missing, max_vocabulary=max_vocabulary, min_frequency=min_frequency,
            rows=rows["train"])
        if domains is not None:
            # a copy, not a dump: the in-memory vocabulary counts must survive
            self.schema = self.schema.model_copy(update={"domain": domains})
            _, domain_codes = self.schema.domain_indices()
            lost = [v for v, code in zip(domains.values, domain_codes, strict=True) if code == 0]
            if lost:
                raise DataError(f"domains.values: value(s) {lost} have no vocabulary index "
                                "(no train rows, or fewer than dataset.vocabulary.min_frequency)",
                                column=domains.column, field="domains.values")
        self.splits: dict[str, SplitTensors] = encode_parts(
            frame, self.schema, self.tasks,
            {name: rows[name] for name in SPLITS if len(rows[name])})
        #: labelled rows (and positives) per task and split, checked before any trial
        self.task_counts: list[TaskCounts] = check_splits(self.splits, self.tasks)

    def summary(self) -> dict[str, object]:
        """The detected schema and the pre-trial checks as plain data (JSON-able): each feature
        column's kind and reason, split sizes, the stratifying task, and per task and split the
        labelled rows (and positives)."""
        vocab = {c.name: len(c.vocabulary) for c in self.schema.categorical}
        indicators = {f.indicator_of: f.name for f in self.schema.numeric if f.indicator_of}
        return {
            "features": [{"name": name, "kind": d.kind, "reason": d.reason,
                          **({"vocabulary": vocab[name]} if name in vocab else {}),
                          **({"missing_indicator": indicators[name]}
                             if name in indicators else {})}
                         for name, d in self.feature_decisions.items()],
            "splits": {name: len(split) for name, split in self.splits.items()},
            "stratified_on": self.stratified_on,
            "tasks": [{"task": c.task, "split": c.split, "labelled": c.labelled,
                       **({"positives": c.positives} if c.positives is not None else {}),
                       **({"classes": c.classes} if c.classes is not None else {})}
                      for c in self.task_counts],
            "warnings": self.warnings,
            "label_scaling": [s.model_dump() for s in self.schema.labels],
            "classes": [c.model_dump() for c in self.schema.classes],
        }

    @property
    def warnings(self) -> list[str]:
        """What makes the job's results doubtful without making it fail: a binary task with
        too few of one class in the valid or test split
        (:func:`automtl.data.checks.rare_class_warnings`), inferred features that look like
        another binary label (:func:`automtl.data.checks.label_like_warnings`)."""
        return (rare_class_warnings(self.task_counts)
                + label_like_warnings(self.label_like_features))

    @property
    def notes(self) -> list[str]:
        """What the data checks changed without doubting the results: each numeric feature
        with missing values, their count and how they are filled (``spec validate --data``
        and ``submit`` print them)."""
        indicators = {f.indicator_of: f.name for f in self.schema.numeric if f.indicator_of}
        return [f"feature column {name!r} has {count} missing value(s): filled with the "
                f"train mean" + (f", plus a 0/1 feature {indicators[name]!r} that marks them"
                                 if name in indicators else "")
                for name, count in self.missing_counts.items()]

    def describe_features(self) -> list[str]:
        """One line per feature column: its kind and why (for the CLI and logs)."""
        lines = []
        for name, decision in self.feature_decisions.items():
            line = f"{name}: {decision.kind} ({decision.reason})"
            cat = next((c for c in self.schema.categorical if c.name == name), None)
            if cat is not None:
                line += f", vocabulary {len(cat.vocabulary)}"
            num = next((f for f in self.schema.numeric if f.indicator_of == name), None)
            if num is not None:
                line += f", missing values imputed with the train mean + indicator {num.name}"
            lines.append(line)
        return lines

    @property
    def input_schema(self) -> InputSchema:
        return self.schema

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks)

    @property
    def train(self) -> SplitTensors:
        return self.splits["train"]

    @property
    def valid(self) -> SplitTensors:
        return self.splits["valid"]

    @property
    def test(self) -> SplitTensors | None:
        """The test split, or None when it has no rows (``test_fraction=0`` or no test rows)."""
        return self.splits.get("test")

    def encode(self, frame: pd.DataFrame, *, labels: bool = True) -> SplitTensors:
        """New rows with the same columns, preprocessed exactly like the training rows."""
        return encode_frame(frame.rename(columns=str), self.schema, self.tasks, labels=labels)

    def to(self, device: torch.device | str) -> TabularDataset:
        """This dataset with every split's tensors on ``device`` (a shallow copy)."""
        moved = object.__new__(TabularDataset)
        moved.__dict__.update(self.__dict__)
        moved.splits = {name: split.to(device) for name, split in self.splits.items()}
        return moved

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(split)}" for name, split in self.splits.items())
        return (f"TabularDataset(tasks={list(self.task_names)}, numeric={len(self.schema.numeric)}"
                f", categorical={len(self.schema.categorical)}, {sizes})")
