"""Helpers of the API tests (importable as ``api_support``; pytest puts tests/api on the path):
settings on a fresh SQLite file, tokens, a tiny dataset and a tiny job spec (4 trials of 2
epochs on 1500 rows)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from automtl_api.settings import Settings
from automtl_storage import Database, OwnerRepository, TokenRepository

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")

#: a small inline search space: a single-task baseline and MMoE, tiny layers, equal weighting
TINY_SPACE: dict[str, Any] = {
    "architecture": {"embedding_dim": 4, "expert_units": [8], "bottom_units": [16],
                     "tower_units": [8]},
    "topology": {"choose": {"single_task": {}, "mmoe": {"experts": {"int": [2, 3]}}}},
    "weighting": {"choose": {"equal": {}}},
    "optimizer": {"name": "adam", "lr": {"float": [3e-3, 3e-2], "log": True},
                  "batch_size": 128, "epochs": 2},
}


def make_settings(root: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test", "data_dir": root / "data",
        "database_url": f"sqlite:///{root / 'automtl.db'}",
        "artifact_dir": root / "artifacts", "ray_num_cpus": 2,
        "heartbeat_interval_s": 0.5, "stale_after_s": 5.0, "poll_interval_s": 0.2,
    }
    values.update(overrides)
    return Settings(**values)


def create_token(settings: Settings, owner: str) -> dict[str, str]:
    """Authorization headers with a new token of ``owner`` (created when new)."""
    with Database(settings.resolved_database_url) as database, database.session() as session:
        person = OwnerRepository(session).get_or_create(owner)
        _, token = TokenRepository(session).create(person.id, f"{owner}-token")
    return {"Authorization": f"Bearer {token}"}


def tiny_csv(rows: int = 1500, seed: int = 1) -> bytes:
    """The MMoE synthetic recipe (binary labels y1, y2; features x0..x7, c0) as CSV bytes."""
    from automtl.data import make_synthetic

    frame = make_synthetic(rows=rows, features=8, categorical=1, correlation=0.8, seed=seed,
                           binary=True)
    return frame.to_csv(index=False).encode()


def tiny_spec(dataset: dict[str, Any], name: str = "tiny", trials: int = 4,
              **overrides: Any) -> dict[str, Any]:
    spec = {"name": name, "dataset": dataset, "tasks": [{"name": "y1"}, {"name": "y2"}],
            "search_space": TINY_SPACE, "sampler": "random",
            "budget": {"trials": trials, "epochs": 2}}
    spec.update(overrides)
    return spec


def paths_of(response: Any) -> list[str]:
    """The ``path`` of every error item of a 4xx response."""
    return [item["path"] for item in response.json()["detail"]]


def write_census_dir(directory: Path, rows: int = 60, seed: int = 0) -> Path:
    """Tiny census-income ``.data``/``.test`` files in the UCI format (labels drawn at random,
    so every task has both classes), for submit-time checks of the builtin."""
    from automtl.data.census import COLUMNS, NUMERIC

    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("census-income.data", "census-income.test"):
        lines = []
        for _ in range(rows):
            fields = []
            for name_ in COLUMNS:
                if name_ == "education":
                    fields.append(str(rng.choice(["Children", "Bachelors degree(BA AB BS)"])))
                elif name_ == "marital_status":
                    fields.append(str(rng.choice(["Never married", "Divorced"])))
                elif name_ == "income":
                    fields.append(str(rng.choice(["- 50000.", "50000+."])))
                elif name_ in NUMERIC or name_ == "instance_weight":
                    fields.append(str(int(rng.integers(0, 90))))
                else:
                    fields.append(str(rng.choice(["Not in universe", "?"])))
            lines.append(", ".join(fields))
        (directory / name).write_text("\n".join(lines) + "\n")
    return directory


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux ``/proc/<pid>/task/*/children``); empty once it is gone."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except FileNotFoundError:
        pass
    return found
