"""What a worker advertises: the resources of each node of the Ray cluster its trials run on.

With ``AUTOMTL_RAY_ADDRESS`` the worker connects to that cluster (the connection is kept; the
search reuses it) and reads every alive node's resources from ``ray.nodes()``, custom ones
included. Without it each job starts a local Ray of ``AUTOMTL_RAY_NUM_CPUS`` CPUs (all cores by
default) and the GPUs torch sees, which is one node. Jobs are matched against these per node
(:mod:`automtl_storage.resources`).
"""

from __future__ import annotations

import os
from typing import Any

#: keys of ``ray.nodes()[i]["Resources"]`` that are not schedulable per-trial resources
_NOT_TRIAL_RESOURCES = ("memory", "object_store_memory")


def local_nodes(num_cpus: int | None) -> list[dict[str, float]]:
    """The one node of the local Ray a job starts: its CPUs and the GPUs torch can see."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return [{"CPU": float(num_cpus or os.cpu_count() or 1), "GPU": float(gpus)}]


def node_resources(raw: dict[str, Any]) -> dict[str, float]:
    """A node's schedulable resources from one ``ray.nodes()`` entry's ``Resources`` (the
    per-node ``node:<ip>`` labels, memory and accelerator-type markers left out)."""
    return {name: float(amount) for name, amount in raw.items()
            if not name.startswith(("node:", "accelerator_type:"))
            and name not in _NOT_TRIAL_RESOURCES}


def cluster_nodes(address: str) -> list[dict[str, float]]:
    """Every alive node of the Ray cluster at ``address`` (connecting to it if needed).

    Raises ConnectionError (from Ray) when no cluster answers at ``address``.
    """
    import ray

    if not ray.is_initialized():
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address=address, log_to_driver=False)
    return [node_resources(node.get("Resources", {})) for node in ray.nodes() if node.get("Alive")]


def advertised_nodes(ray_address: str | None, num_cpus: int | None) -> list[dict[str, float]]:
    """The nodes a worker with these settings can run trials on."""
    if ray_address:
        return cluster_nodes(ray_address)
    return local_nodes(num_cpus)
