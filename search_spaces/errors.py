"""The one error a search-space document raises: every problem at once, each with its path."""

from __future__ import annotations

from collections.abc import Iterable


class SearchSpaceError(ValueError):
    """A search space that does not validate.

    ``errors`` holds ``(path, message)`` pairs, e.g.
    ``("topology.choose.ple.levels", "low 0 must be >= 1")``, in document order, so an API can
    return them as 422 details and a CLI can print one per line.
    """

    def __init__(self, errors: Iterable[tuple[str, str]]) -> None:
        self.errors: list[tuple[str, str]] = list(errors)
        if not self.errors:
            raise ValueError("SearchSpaceError needs at least one error")
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [f"{path}: {message}" if path else message for path, message in self.errors]
        noun = "error" if len(lines) == 1 else "errors"
        return f"invalid search space ({len(lines)} {noun}):\n  " + "\n  ".join(lines)


class ErrorCollector:
    """Gathers ``(path, message)`` pairs while a document is checked; raises them all at the end."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def __len__(self) -> int:
        return len(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise SearchSpaceError(self.errors)


def join_path(path: str, key: str | int) -> str:
    """``join_path("a.b", "c") == "a.b.c"``; list indexes render as ``a.b[2]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key
