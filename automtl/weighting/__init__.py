"""Loss-weighting strategies: how per-task losses become one update.

``build_weighting(WeightingConfig(name=..., params=...), tasks)`` builds one by registry name;
:func:`available_weightings` lists them. Importing this package registers every built-in
strategy.
"""

from __future__ import annotations

from automtl.weighting import (  # noqa: F401  (imported to register the strategies)
    aligned_mtl,
    cagrad,
    db_mtl,
    dtp,
    dwa,
    equal,
    excess_mtl,
    fairgrad,
    famo,
    fixed,
    gls,
    graddrop,
    gradnorm,
    gradvac,
    imtl,
    mgda,
    moco,
    modo,
    nash_mtl,
    pcgrad,
    ple_decay,
    rlw,
    sdmgrad,
    stch,
    uncertainty,
    upgrad,
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
