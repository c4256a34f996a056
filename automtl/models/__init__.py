"""Multi-task networks: building blocks, one module per topology, and a registry.

Importing this package registers every built-in topology; :func:`build_model` turns a
:class:`~automtl.config.ModelConfig` into the network it describes.
"""

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
from automtl.models.base import MTLModel
from automtl.models.registry import (
    TOPOLOGIES,
    available_topologies,
    build_model,
    get_topology,
    register_topology,
)

__all__ = ["TOPOLOGIES", "MTLModel", "available_topologies", "build_model", "get_topology",
           "register_topology"]
