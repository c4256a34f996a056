"""Weighting registry: ``@register_weighting("gradnorm")`` on a :class:`Weighting` subclass
(one :class:`automtl.registry.Registry`, the same class the topologies use)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from automtl.config import TaskSpec
from automtl.registry import Registry
from automtl.weighting.params import WEIGHTING_PARAMS

if TYPE_CHECKING:
    from automtl.config import WeightingConfig
    from automtl.weighting.base import Weighting

#: strategy name -> class; the first lookup imports :mod:`automtl.weighting.builtin` (torch and
#: every built-in strategy). Validation reads :data:`automtl.weighting.params.WEIGHTING_PARAMS`.
WEIGHTINGS: Registry[type[Weighting[Any]]] = Registry("weighting", "automtl.weighting.builtin",
                                                      "weighting_name")


def register_weighting(name: str) -> Callable[[type[Weighting[Any]]], type[Weighting[Any]]]:
    """Register a :class:`Weighting` subclass under a lowercase name, and its ``Params`` in
    :data:`~automtl.weighting.params.WEIGHTING_PARAMS` (``ValueError`` when the name is taken by
    another class or parameter model)."""
    register = WEIGHTINGS.register(name)
    register_params = WEIGHTING_PARAMS.register(name)

    def decorator(cls: type[Weighting[Any]]) -> type[Weighting[Any]]:
        register_params(cls.Params)
        return register(cls)

    return decorator


def available_weightings() -> list[str]:
    """Sorted names of every registered strategy."""
    return WEIGHTINGS.names()


def get_weighting(name: str) -> type[Weighting[Any]]:
    """The class registered as ``name``; an unknown name raises a ``KeyError`` listing valid
    ones."""
    return WEIGHTINGS.get(name)


def build_weighting(config: WeightingConfig, tasks: Sequence[TaskSpec | str], *,
                    seed: int = 0) -> Weighting[Any]:
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
    specs = [t for t in tasks if isinstance(t, TaskSpec)]
    types = {t.name: t.type for t in specs} if len(specs) == len(tasks) else None
    return cls(names, params, task_types=types, seed=seed)
