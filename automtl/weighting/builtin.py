"""Importing this module registers every built-in loss-weighting strategy (it imports torch);
the strategy registry (:data:`automtl.weighting.registry.WEIGHTINGS`) imports it on its first
lookup."""

from __future__ import annotations

from automtl.weighting import (  # noqa: F401  (importing registers the strategies)
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
