"""Frame -> tensors: fit an :class:`InputSchema` on the train rows, then encode any frame with it.

The same :func:`encode_frame` builds the training tensors and preprocesses new data for an
exported model, so both see identical inputs. Work is vectorised per column; Python runs once per
distinct category value, never once per row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from pandas.api import types as ptypes

from automtl.config import CategoricalFeature, InputSchema, NumericFeature, TaskSpec
from automtl.data.base import SplitTensors
from automtl.data.errors import DataError, preview


def _category_text(value: object) -> str:
    """One category value as its vocabulary string: integral numbers print without ``.0``."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return str(int(number)) if math.isfinite(number) and number.is_integer() else str(number)
    return str(value)


def category_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """``(codes, texts)``: ``texts[codes[i]]`` is row i's category string, code -1 if missing.

    Missing values (None, NaN, NA) get code -1. Values that print alike (``1`` and ``1.0``) share
    one string, so a column read as int in training and as float in new data maps the same.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = [_category_text(u) for u in np.asarray(uniques, dtype=object)]
    return np.asarray(codes, dtype=np.int64), texts


def fit_vocabulary(series: pd.Series) -> list[str]:
    """Sorted distinct category strings of the (train) rows; missing values are not included."""
    _, texts = category_codes(series)
    return sorted(set(texts))


def encode_categorical(series: pd.Series, vocabulary: Sequence[str]) -> np.ndarray:
    """Indices into ``vocabulary`` plus one; 0 for values outside it and for missing values."""
    codes, texts = category_codes(series)
    index = {text: i + 1 for i, text in enumerate(vocabulary)}
    lookup = np.array([index.get(text, 0) for text in texts] + [0], dtype=np.int64)
    return lookup[codes]  # code -1 picks the trailing 0


def numeric_values(series: pd.Series, column: str, what: str = "numeric feature") -> np.ndarray:
    """A column as float64 with NaN for missing; non-numeric or infinite values are errors."""
    if ptypes.is_bool_dtype(series.dtype):
        return series.astype("float64").to_numpy()
    if ptypes.is_numeric_dtype(series.dtype) and not ptypes.is_complex_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        coerced = pd.to_numeric(series, errors="coerce")
        bad = coerced.isna() & series.notna()
        if bool(bad.any()):
            raise DataError(f"{what} {column!r} has non-numeric values "
                            f"{preview(series[bad])}", column=column)
        values = coerced.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        raise DataError(f"{what} {column!r} has {int(infinite.sum())} infinite value(s)",
                        column=column)
    return values


def _finite_numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    values = numeric_values(frame[column], column)
    missing = np.isnan(values)
    if missing.any():
        first = frame.index[int(np.argmax(missing))]
        raise DataError(f"numeric feature {column!r} has {int(missing.sum())} missing (NaN) "
                        f"value(s), first at row {first!r}; impute or drop them first",
                        column=column)
    return values


def fit_schema(train: pd.DataFrame, numeric: Sequence[str],
               categorical: Sequence[str]) -> InputSchema:
    """Standardisation statistics and vocabularies from the train rows only.

    ``std`` is the population standard deviation; a column constant on the train rows keeps
    ``std = 1`` so it encodes to ``x - mean`` instead of dividing by zero.
    """
    if not numeric and not categorical:
        raise DataError("no feature columns: list numeric or categorical features",
                        field="features")
    numeric_features = []
    for name in numeric:
        values = _finite_numeric(train, name)
        mean = float(values.mean()) if len(values) else 0.0
        std = float(values.std()) if len(values) else 0.0
        numeric_features.append(NumericFeature(name=name, mean=mean, std=std if std > 0 else 1.0))
    categorical_features = [CategoricalFeature(name=name, vocabulary=fit_vocabulary(train[name]))
                            for name in categorical]
    return InputSchema(numeric=numeric_features, categorical=categorical_features)


def label_values(series: pd.Series, task: TaskSpec) -> np.ndarray:
    """A task's labels as float64, NaN where the row is outside the task's sample space.

    Binary labels must be 0/1 (bool, ints or floats); anything else is an error naming the
    column and showing the offending values.
    """
    column = str(task.label)
    if ptypes.is_object_dtype(series.dtype):
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        number = (bool, int, float, np.bool_, np.integer, np.floating)
        bad = [u for u in np.asarray(uniques, dtype=object) if not isinstance(u, number)]
        if bad:
            raise DataError(f"label column {column!r} of task {task.name!r} has non-numeric "
                            f"values {preview(bad)}", column=column)
        table = np.array([float(u) for u in np.asarray(uniques, dtype=object)] + [np.nan])
        values = table[np.asarray(codes, dtype=np.int64)]
    else:
        values = numeric_values(series, column, what="label column")
    if task.type == "binary":
        present = values[~np.isnan(values)]
        bad = present[(present != 0.0) & (present != 1.0)]
        if len(bad):
            raise DataError(f"binary task {task.name!r}: label column {column!r} must hold 0/1 "
                            f"(or bool) values, found {preview(np.unique(bad))}", column=column)
    return values


def encode_labels(frame: pd.DataFrame, tasks: Sequence[TaskSpec]) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, mask)`` [N, n_tasks]: missing labels become 0 with mask False."""
    labels = np.zeros((len(frame), len(tasks)), dtype=np.float32)
    mask = np.zeros((len(frame), len(tasks)), dtype=bool)
    for j, task in enumerate(tasks):
        column = str(task.label)
        if column not in frame.columns:
            raise DataError(f"label column {column!r} of task {task.name!r} is not in the data",
                            column=column)
        values = label_values(frame[column], task)
        present = ~np.isnan(values)
        labels[:, j] = np.where(present, values, 0.0)
        mask[:, j] = present
    return labels, mask


def encode_frame(frame: pd.DataFrame, schema: InputSchema, tasks: Sequence[TaskSpec], *,
                 labels: bool = True) -> SplitTensors:
    """Encode a frame with a stored schema: the exact preprocessing of the training tensors.

    With ``labels=False`` the label columns are not read (prediction on unlabelled data): labels
    are 0 and every mask is False. Extra columns are ignored; a missing feature column is an error.
    """
    missing = [name for name in schema.numeric_names + schema.categorical_names
               if name not in frame.columns]
    if missing:
        raise DataError(f"feature column {missing[0]!r} is not in the data "
                        f"(missing: {missing})", column=missing[0])
    rows = len(frame)
    numeric = np.empty((rows, len(schema.numeric)), dtype=np.float32)
    for j, feature in enumerate(schema.numeric):
        numeric[:, j] = (_finite_numeric(frame, feature.name) - feature.mean) / feature.std
    categorical = np.empty((rows, len(schema.categorical)), dtype=np.int64)
    for j, cat in enumerate(schema.categorical):
        categorical[:, j] = encode_categorical(frame[cat.name], cat.vocabulary)
    if labels:
        label_array, mask = encode_labels(frame, tasks)
    else:
        label_array = np.zeros((rows, len(tasks)), dtype=np.float32)
        mask = np.zeros((rows, len(tasks)), dtype=bool)
    return SplitTensors(numeric=torch.from_numpy(numeric),
                        categorical=torch.from_numpy(categorical),
                        labels=torch.from_numpy(label_array), mask=torch.from_numpy(mask),
                        task_names=tuple(t.name for t in tasks))
