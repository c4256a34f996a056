"""The one error type of the data layer: bad input that names the column or field at fault."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class DataError(ValueError):
    """Invalid data or data settings.

    ``column`` is the dataset column at fault (None when the problem is not one column);
    ``field`` is the setting or column to point a user at (defaults to ``column``), so the API
    can answer 4xx with it instead of a stack trace. A problem of one task's settings also
    names ``task`` (its name) and ``task_field`` (the task's key at fault: ``type``, ``label``,
    ``weight``, ``transform``), which :func:`automtl.jobspec.data_error_path` turns into the
    job spec's path ``tasks[i].type``, the path every other task error has.
    """

    def __init__(self, message: str, *, column: str | None = None,
                 field: str | None = None, task: str | None = None,
                 task_field: str | None = None) -> None:
        super().__init__(message)
        self.column = column
        self.field = field if field is not None else column
        self.task = task
        self.task_field = task_field


def preview(values: Iterable[Any], limit: int = 5) -> str:
    """Up to ``limit`` distinct offending values for an error message."""
    seen: list[str] = []
    for value in values:
        text = repr(value.item() if hasattr(value, "item") else value)
        if text not in seen:
            seen.append(text)
        if len(seen) > limit:
            break
    shown = ", ".join(seen[:limit])
    return f"[{shown}, ...]" if len(seen) > limit else f"[{shown}]"
