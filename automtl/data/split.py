"""Train/validation/test row assignment: seeded random fractions or a split column."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from automtl.data.encode import category_codes
from automtl.data.errors import DataError, preview

SPLITS: tuple[str, ...] = ("train", "valid", "test")


def split_by_fractions(rows: int, valid_fraction: float, test_fraction: float,
                       seed: int, stratify: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Positional row indices per split, seeded (each split in row order).

    ``round(rows * fraction)`` rows go to valid and test, the rest to train. ``test_fraction``
    may be 0 (no test split); train and valid must each get at least one row. ``stratify``
    (one class per row, e.g. a rare binary label with "missing" as its own class) gives each
    split its share of every class, at least one row of each class of 3 or more rows (see
    :func:`_stratified`), with the same split sizes.
    """
    for name, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise DataError(f"{name} must be in [0, 1), got {value}", field=name)
    if valid_fraction + test_fraction >= 1.0:
        raise DataError("valid_fraction + test_fraction must be < 1 so rows are left for "
                        "training", field="valid_fraction")
    num_valid = int(round(rows * valid_fraction))
    num_test = int(round(rows * test_fraction))
    out = None
    if stratify is not None and num_valid > 0:
        out = _stratified(rows, num_valid, num_test, seed, np.asarray(stratify))
    if out is None:
        permutation = np.random.default_rng(seed).permutation(rows)
        out = {
            "valid": np.sort(permutation[:num_valid]),
            "test": np.sort(permutation[num_valid:num_valid + num_test]),
            "train": np.sort(permutation[num_valid + num_test:]),
        }
    _require_rows(out, f"{rows} rows split with valid_fraction={valid_fraction}, "
                       f"test_fraction={test_fraction}", field="valid_fraction")
    return {name: out[name] for name in SPLITS}


def _quotas(sizes: np.ndarray, total: int, rows: int) -> np.ndarray:
    """Rows of each class for a split of ``total`` rows: proportional, largest remainders
    first (so the quotas sum to ``total``), and at least one for every class of 3 or more
    rows (taken from the class with the largest quota)."""
    if total == 0:
        return np.zeros_like(sizes)
    exact = sizes * total / rows
    quotas = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - quotas), kind="stable")
    quotas[order[:total - int(quotas.sum())]] += 1
    for k in np.flatnonzero((sizes >= 3) & (quotas == 0)):
        donor = int(np.argmax(quotas))
        if quotas[donor] <= 1:
            break
        quotas[donor] -= 1
        quotas[k] = 1
    return quotas


def _stratified(rows: int, num_valid: int, num_test: int, seed: int,
                classes: np.ndarray) -> dict[str, np.ndarray] | None:
    """Per class: shuffle its rows (seeded) and give valid/test their proportional share
    (:func:`_quotas`: exact split sizes, at least one row of every class of 3 or more rows),
    so a task with a handful of positives keeps one in every split. scikit-learn's
    ``train_test_split(stratify=...)`` gives a 6-positive class 1 positive for a 20%
    holdout, leaving valid or test without any, hence this allocation."""
    if len(classes) != rows:
        raise DataError(f"stratify has {len(classes)} values for {rows} rows", field="split")
    rng = np.random.default_rng(seed)
    values, inverse = np.unique(classes, return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(values))
    valid_quota = _quotas(sizes, num_valid, rows)
    test_quota = np.minimum(_quotas(sizes, num_test, rows), sizes - valid_quota)
    if int(test_quota.sum()) != num_test:
        return None
    parts: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "test": []}
    for k in range(len(values)):
        members = rng.permutation(np.flatnonzero(inverse == k))
        n_valid, n_test = int(valid_quota[k]), int(test_quota[k])
        parts["valid"].append(members[:n_valid])
        parts["test"].append(members[n_valid:n_valid + n_test])
        parts["train"].append(members[n_valid + n_test:])
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


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
