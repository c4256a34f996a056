"""One generic name -> class registry (timm's ``_registry.py`` pattern), used for topologies
(:mod:`automtl.models.registry`) and loss weightings (:mod:`automtl.weighting.registry`).

Keys are lowercase; registering a second class under a taken name raises ``ValueError``; looking
up an unknown name raises ``KeyError`` listing the valid ones. Each registry knows the package
whose import registers its built-in entries, imported on the first lookup.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """Classes registered under lowercase names; ``kind`` names the entries in errors
    (``"topology"``), ``package`` is imported before every lookup so built-ins are present.
    ``name_attribute`` (when not ``None``) is set on each registered class to its name; a
    registry whose classes may be registered under several names (settings models shared by
    topologies) passes ``None``."""

    def __init__(self, kind: str, package: str, name_attribute: str | None) -> None:
        self.kind = kind
        self.package = package
        self.name_attribute = name_attribute
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """A class decorator registering its class under ``name`` (and setting the class's
        ``name_attribute``, when it has one, to ``name``)."""
        if name != name.lower():
            raise ValueError(f"{self.kind} names are lowercase, got {name!r}")

        def decorator(cls: T) -> T:
            if name in self._entries and self._entries[name] is not cls:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = cls
            if self.name_attribute is not None:
                setattr(cls, self.name_attribute, name)
            return cls

        return decorator

    def _ensure_loaded(self) -> None:
        importlib.import_module(self.package)

    def names(self) -> list[str]:
        """Sorted names of every registered entry."""
        self._ensure_loaded()
        return sorted(self._entries)

    def snapshot(self) -> tuple[tuple[str, T], ...]:
        """Every ``(name, class)`` entry, sorted by name: a hashable value that changes when an
        entry is registered, so what is derived from the registered classes can be cached on
        it (the search-space catalog, a validated preset)."""
        self._ensure_loaded()
        return tuple(sorted(self._entries.items()))

    def get(self, name: str) -> T:
        """The class registered as ``name``; ``KeyError`` listing the valid names otherwise."""
        self._ensure_loaded()
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; valid: {sorted(self._entries)}"
                           ) from None
