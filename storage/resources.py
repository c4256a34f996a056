"""Per-trial resource requirements of a job and what a worker's Ray cluster can offer.

A job's trials each need ``{"CPU": c, "GPU": g, <custom>: n}`` (Ray's resource names; the
custom ones come from ``resources.custom`` of the spec). A worker advertises the resources of
each alive node of its Ray cluster; a trial can run only if **one node** holds all it needs at
once (Ray places a trial's bundle on one node), so the match is per node, never against the
cluster's total. A worker claims only jobs that fit, and a queued job that fits no live worker
gets a reason the user can read (:func:`unserved_reason`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: resources of one node, Ray's names: ``{"CPU": 8.0, "GPU": 1.0, "gpu_like": 2.0}``
NodeResources = Mapping[str, float]


def job_requirement(spec: Mapping[str, Any]) -> dict[str, float]:
    """What one trial of a job with this stored spec (a JSON dict) needs, zero amounts left out.

    Defaults mirror ``automtl.jobspec.Resources``: 1 CPU, 0 GPU, no custom resources.
    """
    resources = spec.get("resources") or {}
    needed: dict[str, float] = {
        "CPU": float(resources.get("cpus_per_trial", 1.0)),
        "GPU": float(resources.get("gpus_per_trial", 0.0)),
    }
    for name, amount in (resources.get("custom") or {}).items():
        needed[str(name)] = float(amount)
    return {name: amount for name, amount in needed.items() if amount > 0}


def node_fits(needed: Mapping[str, float], node: NodeResources) -> bool:
    """True when ``node`` alone holds every amount in ``needed``."""
    return all(float(node.get(name, 0.0)) >= amount for name, amount in needed.items())


def fits(needed: Mapping[str, float], nodes: Iterable[NodeResources]) -> bool:
    """True when some node of a cluster (``nodes``) can run one trial needing ``needed``."""
    return any(node_fits(needed, node) for node in nodes)


def describe(resources: Mapping[str, float]) -> str:
    """``{CPU: 1, GPU: 1}``: a readable, sorted rendering of a resource mapping."""
    parts = [f"{name}: {amount:g}" for name, amount in sorted(resources.items())]
    return "{" + ", ".join(parts) + "}"


def unserved_reason(needed: Mapping[str, float],
                    workers: Sequence[tuple[str, Sequence[NodeResources]]]) -> str | None:
    """Why a queued job waits, or None when some live worker can serve it.

    ``workers`` are ``(worker_id, nodes)`` of the workers alive now.
    """
    if not workers:
        return ("waiting for a worker: none is registered (start `automtl worker` against this "
                "database)")
    if any(fits(needed, nodes) for _, nodes in workers):
        return None
    offers = "; ".join(
        f"{worker_id}: " + (", ".join(describe(node) for node in nodes) or "no nodes")
        for worker_id, nodes in workers)
    return (f"no registered worker can serve this job: each trial needs {describe(needed)} on "
            f"one Ray node; the live workers' nodes offer {offers}. Add a worker whose Ray "
            "cluster has such a node, or lower resources in the spec")
