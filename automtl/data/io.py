"""Reading tables from CSV/Parquet and describing their columns (for uploads and inference)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

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
        return pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    except (OSError, ValueError, ImportError) as exc:
        raise DataError(f"cannot read {str(path)!r} as {fmt}: {exc}", field="path") from exc


def feature_kind(series: pd.Series) -> Literal["numeric", "categorical"] | None:
    """How a column is used when features are inferred from dtypes.

    Numeric dtypes (not bool) are numeric; bool, object, string and category are categorical;
    anything else (datetimes, intervals, ...) is None and must be converted by the user.
    """
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        return "numeric"
    if ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype):
        return "categorical"
    return None


def detect_schema(data: pd.DataFrame | str | Path,
                  format: TableFormat | None = None) -> dict[str, Any]:
    """Row count and, per column, its name, dtype, inferred kind and number of missing values.

    ``kind`` is what :class:`~automtl.data.TabularDataset` would infer for a feature column
    (``"numeric"``, ``"categorical"`` or ``None`` for unsupported dtypes).
    """
    frame = data if isinstance(data, pd.DataFrame) else read_table(data, format)
    check_unique_columns(frame)
    columns = [
        {"name": str(name), "dtype": str(frame[name].dtype), "kind": feature_kind(frame[name]),
         "missing": int(frame[name].isna().sum())}
        for name in frame.columns
    ]
    return {"rows": int(len(frame)), "columns": columns}


def check_unique_columns(frame: pd.DataFrame) -> None:
    """Column names must be unique strings, so every error can name one column."""
    names = [str(c) for c in frame.columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"duplicate column names: {dupes}", column=dupes[0])
