"""Multi-task networks: building blocks, one module per topology, and a registry.

Importing this package imports neither torch nor the models, so the topologies' settings
(:mod:`automtl.models.params`) can be read without them. The names below load on first use:
:func:`build_model` turns a :class:`~automtl.config.ModelConfig` into the network it describes,
and the first registry lookup registers every built-in topology (:mod:`automtl.models.builtin`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automtl._lazy import lazy_getattr

if TYPE_CHECKING:
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

__getattr__ = lazy_getattr(__name__, {
    "MTLModel": "automtl.models.base",
    **{name: "automtl.models.registry" for name in __all__ if name != "MTLModel"}})
