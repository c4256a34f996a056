"""Topology registry (timm-style): ``@register_topology("mmoe", params=MMoEParams)`` on a model
class. One :class:`automtl.registry.Registry`, the same class the weightings use; the model
class carries its typed settings as ``Params``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from automtl.config import TOPOLOGY_PARAMS, TopologyParams
from automtl.registry import Registry

if TYPE_CHECKING:
    from automtl.config import ModelConfig
    from automtl.models.base import MTLModel

#: topology name -> model class; the first lookup imports :mod:`automtl.models.builtin` (torch
#: and every built-in model). Validation reads :data:`automtl.config.TOPOLOGY_PARAMS` instead.
TOPOLOGIES: Registry[type[MTLModel]] = Registry("topology", "automtl.models.builtin",
                                                "topology_name")
M = TypeVar("M", bound="type[MTLModel]")


def register_topology(name: str, params: type[TopologyParams] = TopologyParams
                      ) -> Callable[[M], M]:
    """Register an :class:`MTLModel` subclass under a lowercase name with its settings model
    ``params`` (a :class:`~automtl.config.TopologyParams` subclass; the base when the topology
    has no settings of its own). The class gets ``Params`` and ``job_fields`` (from
    ``params.job_fields``). ``ValueError`` when the name is taken by another class or settings
    model, or when ``params.l0_penalty`` disagrees with whether the class overrides
    :meth:`MTLModel.l0_penalty` (the DSL offers ``l0_lambda`` from ``params`` alone)."""
    register = TOPOLOGIES.register(name)
    register_params = TOPOLOGY_PARAMS.register(name)

    def decorator(cls: M) -> M:
        from automtl.models.base import MTLModel

        has_l0 = cls.l0_penalty is not MTLModel.l0_penalty
        if has_l0 != params.l0_penalty:
            raise ValueError(f"topology {name!r}: {params.__name__}.l0_penalty is "
                             f"{params.l0_penalty} but {cls.__name__} "
                             f"{'overrides' if has_l0 else 'does not override'} l0_penalty")
        cls.Params = params
        cls.job_fields = params.job_fields
        register(cls)
        register_params(params)
        return cls

    return decorator


def available_topologies() -> list[str]:
    """Sorted names of every registered topology."""
    return TOPOLOGIES.names()


def get_topology(name: str) -> type[MTLModel]:
    """The model class for ``name``; an unknown name raises a ``KeyError`` listing valid ones."""
    return TOPOLOGIES.get(name)


def build_model(config: ModelConfig) -> MTLModel:
    """Build the network a :class:`ModelConfig` describes."""
    return get_topology(config.topology)(config)
