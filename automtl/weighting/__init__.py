"""Loss-weighting strategies: how per-task losses become one update.

``build_weighting(WeightingConfig(name=..., params=...), tasks)`` builds one by registry name;
:func:`available_weightings` lists them. Importing this package imports neither torch nor the
strategies, so their parameter models (:mod:`automtl.weighting.params`) can be read without
them; the names below load on first use, and the first registry lookup registers every
built-in strategy (:mod:`automtl.weighting.builtin`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automtl._lazy import lazy_getattr

if TYPE_CHECKING:
    from automtl.weighting.base import Weighting, WeightingContext
    from automtl.weighting.params import WeightingParams
    from automtl.weighting.registry import (
        available_weightings,
        build_weighting,
        get_weighting,
        register_weighting,
    )

__all__ = [
    "Weighting",
    "WeightingContext",
    "WeightingParams",
    "available_weightings",
    "build_weighting",
    "get_weighting",
    "register_weighting",
]

__getattr__ = lazy_getattr(__name__, {
    "Weighting": "automtl.weighting.base",
    "WeightingContext": "automtl.weighting.base",
    "WeightingParams": "automtl.weighting.params",
    **{name: "automtl.weighting.registry" for name in __all__ if name[0].islower()}})
