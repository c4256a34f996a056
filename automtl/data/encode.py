"""Frame -> tensors: fit an :class:`InputSchema` on the train rows, then encode any frame with it.

The same :func:`encode_frame` builds the training tensors and preprocesses new data for an
exported model, so both see identical inputs. Work is vectorised per column; Python runs once per
distinct category value, never once per row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from pandas.api import types as ptypes

from automtl.config import (
    MAX_CLASSES,
    CategoricalFeature,
    ClassLabels,
    InputSchema,
    LabelScaling,
    MissingPolicy,
    NumericFeature,
    TaskSpec,
    binary_label_message,
)
from automtl.data.base import SplitTensors
from automtl.data.errors import DataError, preview
from automtl.data.messages import column_not_found, missing_values

#: name suffix of the 0/1 missing-indicator feature of a numeric column
INDICATOR_SUFFIX = "__missing"


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


#: default cap on a categorical feature's vocabulary (the most frequent train values are kept)
MAX_VOCABULARY = 50_000
#: default minimum number of train rows a category value needs to get its own index
MIN_FREQUENCY = 1


def fit_vocabulary(series: pd.Series, max_size: int | None = MAX_VOCABULARY,
                   min_frequency: int = MIN_FREQUENCY) -> list[str]:
    """Sorted distinct category strings of the (train) rows; missing values are not included.

    Only values seen on at least ``min_frequency`` rows are kept, and at most ``max_size`` of
    them (the most frequent; ties go to the smaller string), so an id column cannot blow up the
    embedding table: every other value encodes to the out-of-vocabulary index 0.
    """
    return fit_vocabulary_counts(series, max_size, min_frequency)[0]


def fit_vocabulary_counts(series: pd.Series, max_size: int | None = MAX_VOCABULARY,
                          min_frequency: int = MIN_FREQUENCY) -> tuple[list[str], list[int]]:
    """:func:`fit_vocabulary` and the number of rows of each kept value (same order)."""
    if max_size is not None and max_size < 1:
        raise DataError(f"max_vocabulary must be >= 1, got {max_size}", field="max_vocabulary")
    if min_frequency < 1:
        raise DataError(f"min_frequency must be >= 1, got {min_frequency}",
                        field="min_frequency")
    codes, texts = category_codes(series)
    if not texts:
        return [], []
    counts = np.bincount(codes[codes >= 0], minlength=len(texts))
    merged: dict[str, int] = {}
    for text, count in zip(texts, counts.tolist(), strict=True):
        merged[text] = merged.get(text, 0) + count
    kept = [(count, text) for text, count in merged.items() if count >= min_frequency]
    if max_size is not None and len(kept) > max_size:
        kept = sorted(kept, key=lambda item: (-item[0], item[1]))[:max_size]
    ordered = sorted(kept, key=lambda item: item[1])
    return [text for _, text in ordered], [count for count, _ in ordered]


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


def finite_numeric(frame: pd.DataFrame, column: str, where: str = "in these rows", *,
                   first_row: bool = True) -> np.ndarray:
    """The column's values as float64; raises :class:`DataError` for a non-numeric, infinite or
    missing value (``where`` names the rows counted, ``first_row`` whether the message gives
    the first missing row's index)."""
    values = numeric_values(frame[column], column)
    missing = np.isnan(values)
    if missing.any():
        first = frame.index[int(np.argmax(missing))] if first_row else None
        raise DataError(missing_values(column, int(missing.sum()), where, first),
                        column=column)
    return values


def fit_schema(train: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str],
               tasks: Sequence[TaskSpec] = (), *, missing: MissingPolicy = "impute",
               max_vocabulary: int | None = MAX_VOCABULARY,
               min_frequency: int = MIN_FREQUENCY,
               rows: np.ndarray | None = None) -> InputSchema:
    """Standardisation statistics, imputation values, vocabularies and regression-label
    scaling from the train rows only.

    ``std`` is the population standard deviation of the present values; a column constant on
    the train rows keeps ``std = 1`` so it encodes to ``x - mean`` instead of dividing by zero.
    With ``missing="impute"`` (the usual tabular practice) a missing numeric value becomes the
    train mean, and every column with a missing train value gets a 0/1 indicator feature
    ``<column>__missing`` right after it; ``missing="error"`` refuses missing values. Each
    regression task gets a :class:`LabelScaling` (its ``transform``, then the train mean/std).
    ``rows`` (positional indices) selects the train rows of a larger ``train`` frame column by
    column, so the frame is never copied whole. Raises :class:`DataError` naming the column.
    """
    if rows is not None:
        train = _RowView(train, rows)
    if missing not in ("impute", "error"):
        raise DataError(f"missing must be 'impute' or 'error', got {missing!r}", field="missing")
    if not numeric and not categorical:
        raise DataError("no feature columns: list numeric or categorical features",
                        field="features")
    numeric_features = []
    for name in numeric:
        if missing == "error":
            values = finite_numeric(train, name, "in the train split")
        else:
            values = numeric_values(train[name], name)
        absent = np.isnan(values)
        present = values[~absent]
        if len(values) and not len(present):
            raise DataError(f"numeric feature {name!r} has no value on the train rows",
                            column=name)
        mean = float(present.mean()) if len(present) else 0.0
        std = float(present.std()) if len(present) else 0.0
        numeric_features.append(NumericFeature(name=name, mean=mean,
                                               std=std if std > 0 else 1.0, fill=mean))
        if absent.any():
            numeric_features.append(NumericFeature(name=f"{name}{INDICATOR_SUFFIX}",
                                                   indicator_of=name))
    categorical_features = []
    for name in categorical:
        vocabulary, counts = fit_vocabulary_counts(train[name], max_vocabulary, min_frequency)
        categorical_features.append(CategoricalFeature(name=name, vocabulary=vocabulary,
                                                       counts=counts))
    return InputSchema(numeric=numeric_features, categorical=categorical_features,
                       labels=[fit_label_scaling(train, task) for task in tasks
                               if task.type == "regression"],
                       classes=[fit_class_labels(train[str(task.label)], task) for task in tasks
                                if task.type == "multiclass"],
                       missing=missing)


class _RowView:
    """``frame.iloc[rows]`` one column at a time (``view[name]``), for :func:`fit_schema`."""

    def __init__(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        self.frame, self.rows = frame, rows
        self.index = frame.index[rows]

    def __getitem__(self, name: str) -> pd.Series:
        return self.frame[name].iloc[self.rows]

    def __len__(self) -> int:
        return len(self.rows)


def fit_label_scaling(train: pd.DataFrame, task: TaskSpec) -> LabelScaling:
    """A regression task's train-split label statistics after its ``transform``."""
    values = transform_labels(label_values(train[str(task.label)], task), task.transform, task)
    present = values[~np.isnan(values)]
    mean = float(present.mean()) if len(present) else 0.0
    std = float(present.std()) if len(present) else 0.0
    return LabelScaling(task=task.name, transform=task.transform, mean=mean,
                        std=std if std > 0 else 1.0)


def class_texts(series: pd.Series, task: TaskSpec) -> tuple[np.ndarray, list[str], bool]:
    """``(codes, texts, integral)`` of a multiclass label column: ``texts[codes[i]]`` is row
    i's class as text (code -1: missing, the row is outside the task's sample space);
    ``integral`` when every class is an integer code (kept as ints in :class:`ClassLabels`).

    Classes are integer codes or strings; fractional numbers and booleans are errors naming
    the column (a 0/1 label is a binary task).
    """
    column = str(task.label)
    if ptypes.is_bool_dtype(series.dtype):
        raise DataError(f"multiclass task {task.name!r}: label column {column!r} is boolean; "
                        "use type: binary", column=column, task=task.name, task_field="type")
    codes, texts = category_codes(series)
    if ptypes.is_numeric_dtype(series.dtype):
        values = numeric_values(series, column, what="label column")
        fractional = values[~np.isnan(values) & (values != np.round(values))]
        if len(fractional):
            raise DataError(f"multiclass task {task.name!r}: label column {column!r} holds "
                            f"fractional numbers {preview(np.unique(fractional))}; classes are "
                            "integer codes or strings", column=column, task=task.name,
                            task_field="type")
        integral = True
    else:
        integral = all(_is_integer_text(text) for text in texts)
    return codes, texts, integral


def _is_integer_text(text: str) -> bool:
    return text.lstrip("-").isdigit() and str(int(text)) == text


def _sorted_classes(texts: set[str], integral: bool) -> list[int] | list[str]:
    if integral:
        return sorted(int(t) for t in texts)
    return sorted(texts)


def fit_class_labels(series: pd.Series, task: TaskSpec) -> ClassLabels:
    """A multiclass task's classes: the distinct labels of the train rows, sorted.

    Raises :class:`DataError` naming the label column when the train rows hold fewer than 3
    classes (2: use ``type: binary``) or more than :data:`~automtl.config.MAX_CLASSES`. A task
    with no labelled train row gets no classes (the split checks report it).
    """
    codes, texts, integral = class_texts(series, task)
    present = sorted({texts[c] for c in np.unique(codes[codes >= 0]).tolist()})
    column = str(task.label)
    if present and len(present) < 3:
        raise DataError(f"multiclass task {task.name!r}: label column {column!r} has "
                        f"{len(present)} class(es) {preview(present)} in the train split; a "
                        "multiclass task needs at least 3 (two classes: use type: binary)",
                        column=column, task=task.name, task_field="type")
    if len(present) > MAX_CLASSES:
        raise DataError(f"multiclass task {task.name!r}: label column {column!r} has "
                        f"{len(present)} classes in the train split, over the limit of "
                        f"{MAX_CLASSES} (is it an id column?)", column=column,
                        task=task.name, task_field="type")
    return ClassLabels(task=task.name, classes=_sorted_classes(set(present), integral))


def class_indices(series: pd.Series, labels: ClassLabels, task: TaskSpec) -> np.ndarray:
    """Each row's class index into ``labels.classes`` as float64 (NaN where missing); a class
    the train split did not have is reported as ``-1`` (see :func:`encode_parts`)."""
    codes, texts, _ = class_texts(series, task)
    index = {str(c): i for i, c in enumerate(labels.classes)}
    lookup = np.array([float(index.get(text, -1)) for text in texts] + [np.nan])
    return lookup[codes]


def transform_labels(values: np.ndarray, transform: str, task: TaskSpec) -> np.ndarray:
    """``log1p`` labels (NaN kept); a negative label under ``log1p`` is an error naming it."""
    if transform == "none":
        return values
    if transform == "log1p":
        negative = values < 0
        if negative.any():
            raise DataError(f"task {task.name!r}: transform log1p needs labels >= 0, label "
                            f"column {task.label!r} has {int(negative.sum())} negative value(s) "
                            f"{preview(values[negative])}", column=str(task.label),
                            task=task.name, task_field="transform")
        return np.log1p(values)
    raise DataError(f"task {task.name!r}: unknown transform {transform!r}; valid: "
                    "['log1p', 'none']", field="transform", task=task.name,
                    task_field="transform")


def scale_labels(values: np.ndarray, scaling: LabelScaling | None, task: TaskSpec) -> np.ndarray:
    """Raw labels -> training units: ``(transform(y) - mean) / std`` (NaN stays NaN)."""
    if scaling is None:
        return values
    return (transform_labels(values, scaling.transform, task) - scaling.mean) / scaling.std


def unscale_labels(values: np.ndarray, scaling: LabelScaling | None) -> np.ndarray:
    """Training units -> the label's original units (the inverse of :func:`scale_labels`)."""
    if scaling is None:
        return values
    out = values * scaling.std + scaling.mean
    return np.expm1(out) if scaling.transform == "log1p" else out


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
                            f"values {preview(bad)}", column=column, task=task.name,
                            task_field="type")
        table = np.array([float(u) for u in np.asarray(uniques, dtype=object)] + [np.nan])
        values = table[np.asarray(codes, dtype=np.int64)]
    else:
        values = numeric_values(series, column, what="label column")
    if task.type == "binary":
        present = values[~np.isnan(values)]
        bad = present[(present != 0.0) & (present != 1.0)]
        if len(bad):
            distinct = np.unique(present)
            raise DataError(binary_label_message(
                task.name, column, [float(v) for v in np.unique(bad)],
                bool((distinct >= 0).all() and (distinct == np.floor(distinct)).all()),
                len(distinct)), column=column, task=task.name, task_field="type")
    return values


def weight_values(frame: pd.DataFrame, task: TaskSpec) -> np.ndarray | None:
    """A task's per-row weights (float64, missing = 0), or None when it has no weight column.

    Weights must be finite and >= 0; anything else is an error naming the column.
    """
    if task.weight is None:
        return None
    if task.weight not in frame.columns:
        raise DataError(f"weight column {task.weight!r} of task {task.name!r} is not in the "
                        "data", column=task.weight, task=task.name, task_field="weight")
    values = numeric_values(frame[task.weight], task.weight, what="weight column")
    values = np.where(np.isnan(values), 0.0, values)
    if (values < 0).any():
        raise DataError(f"weight column {task.weight!r} of task {task.name!r} has negative "
                        f"values {preview(values[values < 0])}", column=task.weight,
                        task=task.name, task_field="weight")
    return values


def _check_columns(frame: pd.DataFrame, schema: InputSchema) -> None:
    missing = [name for name in schema.numeric_names + schema.categorical_names
               if name not in frame.columns]
    if missing:
        raise DataError(column_not_found("feature column", missing[0], list(frame.columns))
                        + (f" (also missing: {missing[1:]})" if missing[1:] else ""),
                        column=missing[0])


def _numeric_column(frame: pd.DataFrame, feature: NumericFeature, schema: InputSchema,
                    cache: dict[str, np.ndarray]) -> np.ndarray:
    """One encoded numeric column (float64, every row): imputed and standardised, or the 0/1
    missing indicator of its source column."""
    source = feature.source
    if source not in cache:
        cache.clear()  # only the previous column is ever needed again (its indicator)
        cache[source] = (finite_numeric(frame, source) if schema.missing == "error"
                         else numeric_values(frame[source], source))
    values = cache[source]
    if feature.indicator_of is not None:
        return np.isnan(values).astype(np.float64)
    return (np.where(np.isnan(values), feature.fill, values) - feature.mean) / feature.std


def domain_texts(series: pd.Series) -> np.ndarray:
    """Each row's category text (as the vocabulary writes it), ``None`` where missing."""
    codes, texts = category_codes(series)
    table = np.array([*texts, None], dtype=object)
    return table[codes]  # code -1 (missing) picks the trailing None


def _domain_texts(frame: pd.DataFrame, schema: InputSchema,
                  tasks: Sequence[TaskSpec]) -> np.ndarray | None:
    """The domain text of every row when a task is restricted to a domain, else None."""
    if not any(task.domain is not None for task in tasks):
        return None
    if schema.domain is None:
        raise DataError("a task is restricted to a domain but the input schema has no domain "
                        "column", field="domains")
    return domain_texts(frame[schema.domain.column])


def encode_parts(frame: pd.DataFrame, schema: InputSchema, tasks: Sequence[TaskSpec],
                 parts: Mapping[str, np.ndarray], *, labels: bool = True
                 ) -> dict[str, SplitTensors]:
    """Encode the rows of each part (positional indices into ``frame``) straight into that
    part's tensors: each column is converted once and scattered, so the peak memory is the
    encoded tensors plus one column, never a second copy of everything.

    Same preprocessing as :func:`encode_frame`. Raises :class:`DataError` naming the column.
    """
    _check_columns(frame, schema)
    names = tuple(t.name for t in tasks)
    out: dict[str, dict[str, np.ndarray]] = {
        key: {"numeric": np.empty((len(rows), len(schema.numeric)), dtype=np.float32),
              "categorical": np.empty((len(rows), len(schema.categorical)), dtype=np.int64),
              "labels": np.zeros((len(rows), len(tasks)), dtype=np.float32),
              "mask": np.zeros((len(rows), len(tasks)), dtype=bool)}
        for key, rows in parts.items()}
    whole = {key: len(rows) == len(frame) and bool((rows == np.arange(len(frame))).all())
             for key, rows in parts.items()}

    def scatter(target: str, column: int, values: np.ndarray) -> None:
        for key, rows in parts.items():
            out[key][target][:, column] = values if whole[key] else values[rows]

    cache: dict[str, np.ndarray] = {}
    for j, feature in enumerate(schema.numeric):
        scatter("numeric", j, _numeric_column(frame, feature, schema, cache))
    cache.clear()
    for j, cat in enumerate(schema.categorical):
        scatter("categorical", j, encode_categorical(frame[cat.name], cat.vocabulary))
    weights: dict[str, np.ndarray] | None = None
    domain_of_row = _domain_texts(frame, schema, tasks) if labels else None
    if labels:
        for j, task in enumerate(tasks):
            column = str(task.label)
            if column not in frame.columns:
                raise DataError(f"label column {column!r} of task {task.name!r} is not in the "
                                "data", column=column, task=task.name, task_field=task.label_field)
            if task.type == "multiclass":
                values = _multiclass_values(frame[column], schema, task, parts)
            else:
                values = scale_labels(label_values(frame[column], task),
                                      schema.label_scaling(task.name), task)
            present = ~np.isnan(values)
            if task.domain is not None and domain_of_row is not None:
                present &= domain_of_row == task.domain  # the domain's rows only
            scatter("labels", j, np.where(present, values, 0.0))
            scatter("mask", j, present)
        if any(task.weight is not None for task in tasks):
            weights = {key: np.ones((len(rows), len(tasks)), dtype=np.float32)
                       for key, rows in parts.items()}
            for j, task in enumerate(tasks):
                row_weights = weight_values(frame, task)
                if row_weights is not None:
                    for key, rows in parts.items():
                        weights[key][:, j] = row_weights if whole[key] else row_weights[rows]
    return {key: SplitTensors(numeric=torch.from_numpy(arrays["numeric"]),
                              categorical=torch.from_numpy(arrays["categorical"]),
                              labels=torch.from_numpy(arrays["labels"]),
                              mask=torch.from_numpy(arrays["mask"]), task_names=names,
                              weights=None if weights is None
                              else torch.from_numpy(weights[key]))
            for key, arrays in out.items()}


def _multiclass_values(series: pd.Series, schema: InputSchema, task: TaskSpec,
                       parts: Mapping[str, np.ndarray]) -> np.ndarray:
    """Class indices (NaN: missing); a class outside the train split's is an error naming the
    task, the class, the part (split) and its rows."""
    labels = schema.class_labels(task.name)
    if labels is None:
        raise DataError(f"multiclass task {task.name!r} has no classes in the schema (fit it "
                        "with this task)", field="tasks")
    values = class_indices(series, labels, task)
    unknown = values == -1
    if unknown.any():
        where = [f"{key} ({int(unknown[rows].sum())} rows)" for key, rows in parts.items()
                 if unknown[rows].any()]
        shown = preview(series[unknown].astype(str))
        raise DataError(f"multiclass task {task.name!r}: label column {task.label!r} has "
                        f"class(es) {shown} that the train split does not have, in "
                        f"{', '.join(where)}; every class must be in the train split (train "
                        f"classes: {preview(labels.classes, 10)})", column=str(task.label),
                        task=task.name, task_field=task.label_field)
    return values


def encode_frame(frame: pd.DataFrame, schema: InputSchema, tasks: Sequence[TaskSpec], *,
                 labels: bool = True) -> SplitTensors:
    """Encode a frame with a stored schema: the exact preprocessing of the training tensors.

    Numeric features are imputed (schema ``missing="impute"``) and standardised, categories
    looked up, regression labels scaled with the schema's :class:`LabelScaling`. With
    ``labels=False`` the label columns are not read (prediction on unlabelled data): labels
    are 0 and every mask is False. Extra columns are ignored; a missing feature column is an
    error.
    """
    return encode_parts(frame, schema, tasks, {"all": np.arange(len(frame))},
                        labels=labels)["all"]
