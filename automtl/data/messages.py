"""The wording of the data checks, one function per kind of problem, so the CLI (which loads
the table) and the REST submit (which reads an upload's stored schema) say the same thing:
which column, what it holds, counted over which rows, and what to do. Values are shown as
plain Python (``0``, not ``np.int64(0)``), a column list cut to :data:`MAX_SHOWN_COLUMNS`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: the most column names a message lists
MAX_SHOWN_COLUMNS = 20


def shown_columns(columns: Sequence[Any]) -> str:
    """``['a', 'b', ...]`` as text, at most :data:`MAX_SHOWN_COLUMNS` names and how many more."""
    names = [str(c) for c in columns]
    if len(names) <= MAX_SHOWN_COLUMNS:
        return str(names)
    rest = len(names) - MAX_SHOWN_COLUMNS
    return f"{names[:MAX_SHOWN_COLUMNS]} and {rest} more"


def column_not_found(role: str, name: str, columns: Sequence[Any]) -> str:
    """``label column 'purchased' of task 'buy' is not in the data; its columns: [...]``
    (``role`` the words before the name: ``label column``, ``feature column``, ...)."""
    return f"{role} {name!r} is not in the data; its columns: {shown_columns(columns)}"


def field_message(field: str | None, message: str) -> str:
    """A data problem as one line, ``FIELD: message`` (the message's first line; the field
    left out when the message names it already): how ``automtl`` commands and the bundle's
    ``train.py`` print a :class:`~automtl.data.DataError` (its ``field``)."""
    first = (message.strip().splitlines() or [""])[0]
    return f"{field}: {first}" if field and field not in first else first


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (``np.int64(0)`` -> ``0``)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def missing_values(name: str, count: int, where: str, first_row: Any = None) -> str:
    """``numeric feature 'x' has 60 missing (NaN) value(s) in the whole table (first at row
    0) and dataset.missing is 'error': ...``; ``where`` names the rows counted (``in the whole
    table``, ``in the train split``)."""
    first = f" (first at row {plain(first_row)!r})" if first_row is not None else ""
    return (f"numeric feature {name!r} has {int(count)} missing (NaN) value(s) {where}{first} "
            "and dataset.missing is 'error': fill or drop them, or use missing: impute (the "
            "train mean and an indicator column)")
