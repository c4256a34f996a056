"""Topology registry (timm-style): ``@register_topology("mmoe")`` on a builder class."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from automtl.config import ModelConfig
    from automtl.models.base import MTLModel

_REGISTRY: dict[str, type[MTLModel]] = {}
T = TypeVar("T")


def register_topology(name: str) -> Callable[[T], T]:
    """Register a :class:`MTLModel` subclass under a lowercase name."""
    if name != name.lower():
        raise ValueError(f"topology names are lowercase, got {name!r}")

    def decorator(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"topology {name!r} is already registered")
        _REGISTRY[name] = cls  # type: ignore[assignment]
        cls.topology_name = name  # type: ignore[attr-defined]
        return cls

    return decorator


def _ensure_loaded() -> None:
    # Importing the package registers every built-in topology module.
    import automtl.models  # noqa: F401


def available_topologies() -> list[str]:
    """Sorted names of every registered topology."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def get_topology(name: str) -> type[MTLModel]:
    """The model class for ``name``; an unknown name raises a ``KeyError`` listing valid ones."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown topology {name!r}; valid: {sorted(_REGISTRY)}") from None


def build_model(config: ModelConfig) -> MTLModel:
    """Build the network a :class:`ModelConfig` describes."""
    return get_topology(config.topology)(config)
