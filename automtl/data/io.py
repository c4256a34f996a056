"""Reading tables from CSV/Parquet and describing their columns (for uploads and inference)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from automtl.data.errors import DataError

TableFormat = Literal["csv", "parquet"]
_SUFFIXES: dict[str, TableFormat] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_COMPRESSIONS = (".gz", ".bz2", ".zip", ".xz", ".zst")


def table_format(path: str | Path) -> TableFormat:
    """The format from a file name: ``.csv`` (also ``.csv.gz``), ``.parquet``, ``.pq``."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if len(suffixes) >= 2 and suffixes[-1] in _COMPRESSIONS:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise DataError(f"cannot tell the format of {str(path)!r} from its suffix; "
                    f"use one of {sorted(_SUFFIXES)} or give the format", field="path")


def read_table(path: str | Path, format: TableFormat | None = None) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame; a missing or unreadable file is a DataError."""
    path = Path(path)
    fmt = format or table_format(path)
    if fmt not in ("csv", "parquet"):
        raise DataError(f"unknown table format {fmt!r}; valid: ['csv', 'parquet']",
                        field="format")
    if not path.is_file():
        raise DataError(f"no such file: {str(path)!r}", field="path")
    try:
        return pd.read_csv(path) if fmt == "csv" else _read_parquet(path)
    except (OSError, ValueError, ImportError) as exc:
        raise DataError(f"cannot read {str(path)!r} as {fmt}: {exc}", field="path") from exc


#: an integer column with an id-like name is categorical: ``id``, ``user_id``, ``city_code``,
#: ``slot_idx``, ``cat_key`` (any case) and camelCase ``itemId``/``userID``
ID_NAME = re.compile(r"(^|[_\-\s.])(id|ids|code|codes|idx|index|key|hash)$", re.IGNORECASE)
CAMEL_ID_NAME = re.compile(r"[a-z0-9](Id|ID|Ids|IDs|Code|Idx|Key)$")


def looks_like_id(name: str) -> bool:
    """Whether a column name says it holds identifiers or codes (:data:`ID_NAME`)."""
    return bool(ID_NAME.search(name) or CAMEL_ID_NAME.search(name))
#: an integer column of non-negative values with at most this share of distinct values
#: (relative to its present rows) is read as codes, i.e. categorical
CODE_DISTINCT_RATIO = 0.2


@dataclass(frozen=True)
class FeatureDecision:
    """How one column is used when features are inferred, and why (shown to the user)."""

    kind: Literal["numeric", "categorical"] | None
    reason: str


def is_binary(series: pd.Series) -> bool:
    """Whether a numeric or boolean column's present values are all 0/1: a binary label."""
    if not (ptypes.is_bool_dtype(series.dtype) or ptypes.is_numeric_dtype(series.dtype)):
        return False
    values = np.asarray(series.dropna().unique(), dtype=float)
    return len(values) > 0 and bool(np.isin(values, [0.0, 1.0]).all())


def infer_feature(series: pd.Series, name: str | None = None) -> FeatureDecision:
    """The inference rule for one column (documented in the README, "Feature inference").

    - bool, object, string and category dtypes are categorical;
    - integer columns (and float columns whose present values are all integers, as pandas reads
      an integer column with gaps) are categorical when the name looks like an id
      (:func:`looks_like_id`), or when every value is >= 0 and the distinct values are at most
      :data:`CODE_DISTINCT_RATIO` of the present rows (codes: city, slot, category id);
      otherwise numeric;
    - other float columns are numeric;
    - anything else (datetimes, intervals, complex) is None: convert, exclude or list it.
    """
    dtype = series.dtype
    name = str(series.name if name is None else name)
    if ptypes.is_bool_dtype(dtype):
        return FeatureDecision("categorical", "bool dtype")
    if isinstance(dtype, pd.CategoricalDtype):
        return FeatureDecision("categorical", "category dtype")
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        integer = ptypes.is_integer_dtype(dtype)
        present = series.dropna() if not integer else series
        if not integer:
            values = present.to_numpy(dtype=np.float64)
            if not len(values) or not bool(np.all(np.mod(values[np.isfinite(values)], 1) == 0)):
                return FeatureDecision("numeric", "float values")
        if looks_like_id(name):
            return FeatureDecision("categorical", "integer values with an id-like name")
        if not len(present):
            return FeatureDecision("numeric", "no present values")
        distinct = int(present.nunique())
        share = distinct / len(present)
        negative = bool((present < 0).any())
        if not negative and share <= CODE_DISTINCT_RATIO:
            return FeatureDecision("categorical", f"integer codes: {distinct} distinct values "
                                                  f"in {len(present)} rows ({share:.1%} <= "
                                                  f"{CODE_DISTINCT_RATIO:.0%})")
        why = "negative values" if negative else (f"{distinct} distinct values in "
                                                  f"{len(present)} rows ({share:.1%} > "
                                                  f"{CODE_DISTINCT_RATIO:.0%})")
        return FeatureDecision("numeric", f"integer values, {why}")
    if ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype):
        return FeatureDecision("categorical", "text values")
    return FeatureDecision(None, f"dtype {dtype} is neither numeric nor categorical")


def _read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file as a DataFrame with about one copy of the data at the peak: pyarrow frees
    each column as it is converted (``self_destruct``, one block per column) and its memory pool
    hands the freed memory back; ``pd.read_parquet`` holds the Arrow table and the frame at once
    (2.5x the frame's size after the read, measured in benchmarks/data_load.py)."""
    import pyarrow as pa
    import pyarrow.lib as palib
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except palib.ArrowException as exc:
        raise ValueError(str(exc)) from exc
    frame = table.to_pandas(self_destruct=True, split_blocks=True)
    del table
    pa.default_memory_pool().release_unused()
    return frame


def feature_kind(series: pd.Series) -> Literal["numeric", "categorical"] | None:
    """How a column is used when features are inferred (:func:`infer_feature`'s kind)."""
    return infer_feature(series).kind


def detect_schema(data: pd.DataFrame | str | Path,
                  format: TableFormat | None = None) -> dict[str, Any]:
    """Row count and, per column, its name, dtype, inferred kind, the reason for that kind,
    whether its dtype is numeric (a regression label may be an integer column read as codes),
    its number of distinct and of missing values.

    ``kind`` is what :class:`~automtl.data.TabularDataset` would infer for a feature column
    (``"numeric"``, ``"categorical"`` or ``None`` for unsupported dtypes); ``reason`` says why.
    """
    frame = data if isinstance(data, pd.DataFrame) else read_table(data, format)
    check_unique_columns(frame)
    columns = []
    for name in frame.columns:
        series = frame[name]
        decision = infer_feature(series, str(name))
        numeric = bool(ptypes.is_numeric_dtype(series.dtype)
                       and not ptypes.is_complex_dtype(series.dtype))
        columns.append({"name": str(name), "dtype": str(series.dtype), "kind": decision.kind,
                        "reason": decision.reason, "numeric": numeric,
                        "distinct": int(series.nunique()),
                        "missing": int(series.isna().sum())})
    return {"rows": int(len(frame)), "columns": columns}


def check_unique_columns(frame: pd.DataFrame) -> None:
    """Column names must be unique strings, so every error can name one column."""
    names = [str(c) for c in frame.columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"duplicate column names: {dupes}", column=dupes[0])
