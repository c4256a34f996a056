"""Train/validation/test row assignment: seeded random fractions or a split column."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from automtl.data.encode import category_codes
from automtl.data.errors import DataError, preview

SPLITS: tuple[str, ...] = ("train", "valid", "test")


def split_by_fractions(rows: int, valid_fraction: float, test_fraction: float,
                       seed: int) -> dict[str, np.ndarray]:
    """Positional row indices per split from a seeded permutation (each split in row order).

    ``round(rows * fraction)`` rows go to valid and test, the rest to train. ``test_fraction``
    may be 0 (no test split); train and valid must each get at least one row.
    """
    for name, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise DataError(f"{name} must be in [0, 1), got {value}", field=name)
    if valid_fraction + test_fraction >= 1.0:
        raise DataError("valid_fraction + test_fraction must be < 1 so rows are left for "
                        "training", field="valid_fraction")
    permutation = np.random.default_rng(seed).permutation(rows)
    num_valid = int(round(rows * valid_fraction))
    num_test = int(round(rows * test_fraction))
    out = {
        "valid": np.sort(permutation[:num_valid]),
        "test": np.sort(permutation[num_valid:num_valid + num_test]),
        "train": np.sort(permutation[num_valid + num_test:]),
    }
    _require_rows(out, f"{rows} rows split with valid_fraction={valid_fraction}, "
                       f"test_fraction={test_fraction}", field="valid_fraction")
    return {name: out[name] for name in SPLITS}


def split_by_column(series: pd.Series, column: str,
                    values: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """Positional row indices per split from a column naming each row's split.

    ``values`` maps ``train``/``valid``/``test`` to the column's values (default: the split
    names). Missing or unknown values are errors naming the column; the test split may be empty.
    """
    names = {name: name for name in SPLITS}
    if values:
        unknown = sorted(set(values) - set(SPLITS))
        if unknown:
            raise DataError(f"unknown split names {unknown}; valid: {list(SPLITS)}",
                            field="split")
        names.update({k: str(v) for k, v in values.items()})
    if len(set(names.values())) != len(SPLITS):
        raise DataError(f"split values must differ, got {names}", field="split")
    codes, texts = category_codes(series)
    if (codes < 0).any():
        raise DataError(f"split column {column!r} has {int((codes < 0).sum())} missing "
                        "value(s)", column=column)
    known = {text: i for i, text in enumerate(names.values())}
    unknown_texts = sorted({t for t in texts if t not in known})
    if unknown_texts:
        raise DataError(f"split column {column!r} has values {preview(unknown_texts)} that "
                        f"are none of {sorted(known)}", column=column)
    split_of_row = np.array([known[t] for t in texts], dtype=np.int64)[codes]
    out = {name: np.flatnonzero(split_of_row == i) for i, name in enumerate(SPLITS)}
    _require_rows(out, f"split column {column!r}", field=column, column=column)
    return out


def _require_rows(splits: Mapping[str, np.ndarray], source: str, *, field: str,
                  column: str | None = None) -> None:
    for name in ("train", "valid"):
        if len(splits[name]) == 0:
            raise DataError(f"{source} leaves no rows in the {name} split", field=field,
                            column=column)
