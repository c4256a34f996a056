"""A multi-task tabular dataset from a DataFrame or a CSV/Parquet file, encoded once to tensors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from automtl.config import InputSchema, TaskSpec, validate_task_list
from automtl.data.base import SplitTensors
from automtl.data.encode import encode_frame, fit_schema
from automtl.data.errors import DataError
from automtl.data.io import TableFormat, check_unique_columns, feature_kind, read_table
from automtl.data.split import SPLITS, split_by_column, split_by_fractions


def resolve_features(frame: pd.DataFrame, reserved: Sequence[str],
                     numeric: Sequence[str] | None, categorical: Sequence[str] | None,
                     exclude: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """The numeric and categorical feature columns, listed or inferred from dtypes.

    With both lists None every column that is not ``reserved`` (labels, split column) or
    ``exclude``\\ d is a feature: numeric dtypes numeric; bool/object/string/category categorical.
    Given lists are used as is (None counts as empty); a listed column must exist and must not be
    a label or the split column.
    """
    columns = list(frame.columns)
    for name in exclude:
        if name not in columns:
            raise DataError(f"excluded column {name!r} is not in the data", column=name)
    if numeric is None and categorical is None:
        inferred: dict[str, list[str]] = {"numeric": [], "categorical": []}
        for name in columns:
            if name in reserved or name in exclude:
                continue
            kind = feature_kind(frame[name])
            if kind is None:
                raise DataError(f"column {name!r} has dtype {frame[name].dtype} that is neither "
                                "numeric nor categorical; convert it, exclude it or list the "
                                "features", column=name)
            inferred[kind].append(name)
        return inferred["numeric"], inferred["categorical"]
    numeric_list, categorical_list = list(numeric or []), list(categorical or [])
    seen: set[str] = set()
    for name in numeric_list + categorical_list:
        if name not in columns:
            raise DataError(f"feature column {name!r} is not in the data", column=name)
        if name in reserved:
            raise DataError(f"column {name!r} is a label or the split column and cannot also "
                            "be a feature", column=name)
        if name in seen:
            raise DataError(f"feature column {name!r} is listed twice", column=name)
        seen.add(name)
    return numeric_list, categorical_list


class TabularDataset:
    """Feature/label tensors of the train, valid and test splits, plus the fitted input schema.

    ``data`` is a DataFrame or a CSV/Parquet path; ``tasks`` name a label column each (type
    binary or regression; NaN = row outside the task's sample space). Rows are split either by
    ``valid_fraction``/``test_fraction`` with ``seed``, or by ``split_column`` whose values name
    the split (``split_values`` maps train/valid/test to them). Numeric features are
    standardised and vocabularies built from the train rows only. Everything is encoded once
    with :func:`~automtl.data.encode.encode_frame`, which also encodes new data for an export.
    """

    def __init__(self, data: pd.DataFrame | str | Path, tasks: Sequence[TaskSpec], *,
                 numeric: Sequence[str] | None = None,
                 categorical: Sequence[str] | None = None, exclude: Sequence[str] = (),
                 valid_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0,
                 split_column: str | None = None, split_values: Mapping[str, str] | None = None,
                 format: TableFormat | None = None) -> None:
        frame = data if isinstance(data, pd.DataFrame) else read_table(data, format)
        frame = frame.rename(columns=str)
        check_unique_columns(frame)
        try:
            self.tasks: list[TaskSpec] = validate_task_list(list(tasks))
        except ValueError as exc:
            raise DataError(str(exc), field="tasks") from None
        labels = [str(t.label) for t in self.tasks]
        for task, column in zip(self.tasks, labels, strict=True):
            if column not in frame.columns:
                raise DataError(f"label column {column!r} of task {task.name!r} is not in the "
                                "data", column=column)
        reserved = list(labels)
        if split_column is not None:
            if split_column not in frame.columns:
                raise DataError(f"split column {split_column!r} is not in the data",
                                column=split_column)
            if split_column in labels:
                raise DataError(f"split column {split_column!r} is also a label column",
                                column=split_column)
            reserved.append(split_column)
            rows = split_by_column(frame[split_column], split_column, split_values)
        else:
            rows = split_by_fractions(len(frame), valid_fraction, test_fraction, seed)
        self.numeric_columns, self.categorical_columns = resolve_features(
            frame, reserved, numeric, categorical, exclude)
        #: positional row indices of each split in the source frame (each in row order)
        self.split_rows: dict[str, np.ndarray] = rows
        self.schema: InputSchema = fit_schema(frame.iloc[rows["train"]], self.numeric_columns,
                                              self.categorical_columns)
        everything = encode_frame(frame, self.schema, self.tasks)
        self.splits: dict[str, SplitTensors] = {
            name: everything.index(torch.from_numpy(rows[name]))
            for name in SPLITS if len(rows[name])
        }
        self._check_task_rows()

    def _check_task_rows(self) -> None:
        for name in ("train", "valid"):
            counts = self.splits[name].mask.sum(dim=0).tolist()
            for task, count in zip(self.tasks, counts, strict=True):
                if count == 0:
                    raise DataError(f"task {task.name!r} has no labelled rows in the {name} "
                                    f"split (label column {task.label!r})", column=task.label)

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
