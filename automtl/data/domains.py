"""Checks of a multi-domain job's domain column (``domains.column``) against the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from automtl.config import MAX_DOMAINS, DomainSpec
from automtl.data.encode import domain_texts
from automtl.data.errors import DataError, preview


def check_domain_column(frame: pd.DataFrame, domains: DomainSpec) -> np.ndarray:
    """Each row's domain text after checking the column: present, categorical-like (text,
    bool or integer codes, not fractional numbers), at most :data:`MAX_DOMAINS` distinct values,
    none missing, each one listed in ``domains.values`` and each listed value with a row.

    Raises :class:`DataError` with ``field="domains.column"`` (or ``domains.values``).
    """
    column = domains.column
    if column not in frame.columns:
        raise DataError(f"domains.column: column {column!r} is not in the data",
                        column=column, field="domains.column")
    series = frame[column]
    if ptypes.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64)
        fractional = values[np.isfinite(values) & (values != np.round(values))]
        if len(fractional):
            raise DataError(f"domains.column: column {column!r} holds fractional numbers "
                            f"{preview(fractional)}; a domain column is categorical (text or "
                            "integer codes)", column=column, field="domains.column")
    texts = domain_texts(series)
    missing = int(sum(t is None for t in texts))
    if missing:
        raise DataError(f"domains.column: column {column!r} has {missing} row(s) without a "
                        "domain value", column=column, field="domains.column")
    distinct = sorted(set(texts.tolist()))
    if len(distinct) > MAX_DOMAINS:
        raise DataError(f"domains.column: column {column!r} has {len(distinct)} distinct values; "
                        f"a domain column has at most {MAX_DOMAINS}", column=column,
                        field="domains.column")
    unlisted = [v for v in distinct if v not in domains.values]
    if unlisted:
        raise DataError(f"domains.values: column {column!r} has value(s) {unlisted} that are not "
                        f"listed (listed: {domains.values})", column=column,
                        field="domains.values")
    absent = [v for v in domains.values if v not in distinct]
    if absent:
        raise DataError(f"domains.values: value(s) {absent} occur in no row of column "
                        f"{column!r}", column=column, field="domains.values")
    return texts
