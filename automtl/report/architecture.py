"""What the report says about a candidate's architecture, read from the topology's registered
``Params`` (its :meth:`~automtl.config.TopologyParams.summary`), so no topology is named here.

A stored candidate's ``architecture`` may be in the current form (``params``) or the previous
flat one; both are read through :class:`~automtl.config.ArchitectureConfig`. One that no longer
validates (a topology since removed) is summarised as blanks rather than failing the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from automtl.config import ArchitectureConfig


def _parse(architecture: Mapping[str, Any]) -> ArchitectureConfig | None:
    try:
        return ArchitectureConfig.model_validate(dict(architecture))
    except (ValidationError, ValueError):
        return None


def topology_summary(architecture: Mapping[str, Any]) -> dict[str, str]:
    """``{"experts", "units", "gate"}`` text of a candidate's ``architecture`` dict (the gate's
    kind only for gated topologies)."""
    parsed = _parse(architecture)
    if parsed is None:
        return {"experts": "", "units": "", "gate": ""}
    return parsed.params.summary()


def task_experts(architecture: Mapping[str, Any]) -> int:
    """Experts each task gate owns before the shared ones (CGC/PLE: ``num_task_experts``);
    0 for topologies whose gates see only shared experts."""
    parsed = _parse(architecture)
    return 0 if parsed is None else parsed.params.task_experts()
