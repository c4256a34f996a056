"""The job the two search benchmarks share: synthetic data, two AUC objectives, a compact space.

The space covers the topologies a user would otherwise hand-pick between (single-task,
shared-bottom, MMoE, PLE) with small sizes, dropout, learning rate and batch size searched, so
that a trial takes about a second on one CPU core and the benchmarks can afford hundreds.
"""

from __future__ import annotations

from typing import Any

COMPACT_SPACE: dict[str, Any] = {
    "description": "benchmark space: 4 topologies, small sizes, searched optimiser settings",
    "architecture": {
        "expert_units": {"categorical": [[16], [32], [64]]},
        "bottom_units": {"categorical": [[32], [64], [128]]},
        "tower_units": {"categorical": [[8], [16]]},
        "dropout": {"float": [0.0, 0.3]},
    },
    "topology": {"choose": {
        "single_task": {},
        "shared_bottom": {},
        "mmoe": {"experts": {"int": [2, 8]}},
        "ple": {"levels": {"int": [1, 2]}, "shared_experts": {"int": [1, 3]},
                "task_experts": {"int": [1, 2]}},
    }},
    "optimizer": {"lr": {"float": [1.0e-4, 3.0e-2], "log": True},
                  "batch_size": {"categorical": [256, 512, 1024]}},
}


def job_spec(name: str, *, trials: int, rows: int, features: int, correlation: float,
             epochs: int, sampler: str = "tpe", seed: int = 0, concurrency: int = 1,
             valid_fraction: float = 0.2, test_fraction: float = 0.0, data_seed: int = 0,
             cpus_per_trial: int = 1, space: dict[str, Any] | None = None) -> dict[str, Any]:
    """A job spec dict (what ``automtl search`` reads): two binary tasks on the synthetic
    recipe, objectives the two validation AUCs, every trial trained ``epochs`` epochs.

    ``data_seed`` draws the data; ``seed`` (the job's) the split, the sampler and each trial's
    training seed (``seed + trial number``); a trial runs ``cpus_per_trial`` torch threads."""
    return {
        "name": name,
        "seed": seed,
        "dataset": {"builtin": "synthetic", "rows": rows, "features": features,
                    "correlation": correlation, "binary": True, "seed": data_seed,
                    "split": {"valid": valid_fraction, "test": test_fraction}},
        "tasks": [{"name": "y1", "type": "binary"}, {"name": "y2", "type": "binary"}],
        "objectives": ["y1", "y2"],
        "search_space": space or COMPACT_SPACE,
        "sampler": sampler,
        "budget": {"trials": trials, "concurrency": concurrency, "epochs": epochs},
        "resources": {"cpus_per_trial": cpus_per_trial},
    }
