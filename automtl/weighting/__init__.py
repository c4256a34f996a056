"""Loss-weighting strategies: how per-task losses become one update.

``build_weighting(WeightingConfig(name=..., params=...), tasks)`` builds one by registry name;
:func:`available_weightings` lists them. Importing this package registers every built-in
strategy.
"""

from __future__ import annotations

from automtl.weighting import (  # noqa: F401  (imported to register the strategies)
    dtp,
    dwa,
    equal,
    fixed,
    gradnorm,
    mgda,
    pcgrad,
    ple_decay,
    uncertainty,
)
from automtl.weighting.base import Weighting, WeightingContext, WeightingParams
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
