"""Importing this module registers every built-in topology's model (it imports torch); the
topology registry (:data:`automtl.models.registry.TOPOLOGIES`) imports it on its first lookup."""

from __future__ import annotations

from automtl.models import (  # noqa: F401  (importing registers the topologies)
    adatt,
    aitm,
    cgc,
    cross_stitch,
    dselect_k,
    l2_constrained,
    ml_mmoe,
    mmoe,
    omoe,
    ple,
    shared_bottom,
    single_task,
    sluice,
    snr,
    star,
)
