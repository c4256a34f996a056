"""Weighting registry: ``@register_weighting("gradnorm")`` on a :class:`Weighting` subclass."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError

if TYPE_CHECKING:
    from automtl.config import TaskSpec, WeightingConfig
    from automtl.weighting.base import Weighting

_REGISTRY: dict[str, type[Weighting]] = {}
T = TypeVar("T")


def register_weighting(name: str) -> Callable[[T], T]:
    """Register a :class:`Weighting` subclass under a lowercase name."""
    if name != name.lower():
        raise ValueError(f"weighting names are lowercase, got {name!r}")

    def decorator(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"weighting {name!r} is already registered")
        _REGISTRY[name] = cls  # type: ignore[assignment]
        cls.weighting_name = name  # type: ignore[attr-defined]
        return cls

    return decorator


def _ensure_loaded() -> None:
    # Importing the package registers every built-in strategy module.
    import automtl.weighting  # noqa: F401


def available_weightings() -> list[str]:
    """Sorted names of every registered strategy."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def get_weighting(name: str) -> type[Weighting]:
    """The class registered as ``name``; an unknown name raises a ``KeyError`` listing valid
    ones."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown weighting {name!r}; valid: {sorted(_REGISTRY)}") from None


def build_weighting(config: WeightingConfig, tasks: Sequence[TaskSpec | str], *,
                    seed: int = 0) -> Weighting:
    """Build the strategy ``config`` names for ``tasks`` (TaskSpecs, or bare task names).

    Invalid parameters raise a ``ValueError`` naming the strategy and each bad parameter.
    Task types are known only from TaskSpecs; strategies that need them say so when missing.
    """
    cls = get_weighting(config.name)
    try:
        params = cls.Params.model_validate(config.params)
    except ValidationError as exc:
        problems = "; ".join(
            f"params.{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors())
        raise ValueError(f"weighting {config.name!r}: {problems}") from None
    names = [t if isinstance(t, str) else t.name for t in tasks]
    types = None if any(isinstance(t, str) for t in tasks) else \
        {t.name: t.type for t in tasks}  # type: ignore[union-attr]
    return cls(names, params, task_types=types, seed=seed)
