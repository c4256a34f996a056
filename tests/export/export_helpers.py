"""Shared pieces of the export tests: a small multi-task frame, direct training that writes the
trainable's artifact layout, and export sources built from such trials."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from automtl.config import (
    ArchitectureConfig,
    Candidate,
    ModelConfig,
    TaskSpec,
    TrainConfig,
    WeightingConfig,
)
from automtl.data import TabularDataset
from automtl.export.sources import ExportSource, TrialRecord
from automtl.jobspec import Objective
from automtl.models import MTLModel, build_model
from automtl.search.trainable import save_artifacts
from automtl.training import Trainer, task_losses
from automtl.weighting import build_weighting

NUMERIC = ["x0", "x1", "x2", "x3"]
CATEGORICAL = ["city", "slot"]
TASKS = [TaskSpec(name="click"), TaskSpec(name="conv"),
         TaskSpec(name="watch", type="regression"),
         TaskSpec(name="ctcvr", label="clickconv", product_of=["click", "conv"])]
OBJECTIVES = [Objective(name="click", direction="maximize", metric="auc"),
              Objective(name="watch", direction="minimize", metric="mse")]


def sequence_of(tasks: list[TaskSpec]) -> list[str] | None:
    """The conversion sequence the export tests give every model (aitm needs one, the others
    ignore it): the plain binary tasks in order, ``[click, conv]`` for :data:`TASKS`."""
    steps = [t.name for t in tasks if t.type == "binary" and not t.product_of]
    return steps if len(steps) >= 2 else None


#: small sizes per topology so every architecture trains in a moment
SMALL: dict[str, Any] = dict(embedding_dim=3, expert_units=[8], bottom_units=[8],
                             tower_units=[4], gate_units=[4], num_shared_experts=2,
                             num_task_experts=1, levels=2, dropout=0.1,
                             snr={"layers": 2, "subnetworks": 2})


@dataclass(frozen=True)
class Service:
    """The service database of ``tests/export/conftest.py``'s ``service`` fixture."""

    url: str
    settings: Any
    alice_token: str
    bob_token: str
    job_id: int
    #: trial number -> (model, candidate) of the trained trials
    trained: dict[int, Any]


def make_frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Numeric x0..x3, a string and an integer categorical column, two binary labels (conv
    only where click is 1, else NaN), their product and a regression label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(NUMERIC))) * [1.0, 2.0, 0.5, 3.0] + [0.0, 1.0, -2.0, 5.0]
    frame = pd.DataFrame(x, columns=NUMERIC)
    frame["city"] = rng.choice(["paris", "rome", "oslo", "lima"], size=rows)
    frame["slot"] = rng.integers(0, 6, size=rows)
    click = (x[:, 0] + 0.5 * (frame["city"] == "rome") + rng.normal(size=rows) > 0)
    frame["click"] = click.astype(float)
    frame["conv"] = np.where(click, (x[:, 1] + rng.normal(size=rows) > 1.0).astype(float),
                             np.nan)
    frame["clickconv"] = np.where(click, frame["conv"], 0.0)
    frame["watch"] = 2.0 * x[:, 2] + 0.3 * frame["slot"] + rng.normal(size=rows)
    return frame


def dataset(frame: pd.DataFrame, tasks: list[TaskSpec] | None = None) -> TabularDataset:
    return TabularDataset(frame, tasks or TASKS, numeric=NUMERIC, categorical=CATEGORICAL,
                          seed=0)


def train_trial(data: TabularDataset, directory: Path, topology: str, *,
                weighting: str = "equal", epochs: int = 1, seed: int = 0,
                tasks: list[TaskSpec] | None = None) -> tuple[MTLModel, Candidate, Any]:
    """Train ``topology`` with the Trainer and save it as the search trainable does."""
    tasks = tasks or TASKS
    candidate = Candidate(architecture=ArchitectureConfig(topology=topology, **SMALL),
                          weighting=WeightingConfig(name=weighting),
                          train=TrainConfig(epochs=epochs, batch_size=64, lr=0.01, seed=seed))
    config = ModelConfig.from_parts(candidate.architecture, data.schema, tasks,
                                    sequence_of(tasks))
    torch.manual_seed(seed)
    model = build_model(config)
    trainer = Trainer(model, build_weighting(candidate.weighting, tasks, seed=seed),
                      candidate.train, "cpu")
    result = trainer.fit(data.train, data.valid, tasks, test=data.test)
    save_artifacts(directory, model, candidate, config)
    return model.eval(), candidate, result


def quick_trial(data: TabularDataset, directory: Path, topology: str, *, steps: int = 3,
                weighting: str = "equal", seed: int = 0) -> tuple[MTLModel, Candidate]:
    """A few Adam steps on ``topology`` (enough to move every weight off its initial value),
    saved with the trainable's own :func:`save_artifacts`."""
    candidate = Candidate(architecture=ArchitectureConfig(topology=topology, **SMALL),
                          weighting=WeightingConfig(name=weighting),
                          train=TrainConfig(epochs=1, batch_size=64, lr=0.05, seed=seed))
    config = ModelConfig.from_parts(candidate.architecture, data.schema, TASKS,
                                    sequence_of(TASKS))
    torch.manual_seed(seed)
    model = build_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=candidate.train.lr)
    model.train()
    for step in range(steps):
        batch = data.train.slice(step * 64, (step + 1) * 64)
        losses = task_losses(model(batch.numeric, batch.categorical), batch, TASKS)
        optimizer.zero_grad()
        torch.stack(list(losses.values())).sum().backward()
        optimizer.step()
    save_artifacts(directory, model, candidate, config)
    return model.eval(), candidate


def record(number: int, directory: Path | None, result: Any = None, *, state: str = "complete",
           values: dict[str, float] | None = None, on_front: bool = True,
           num_params: int | None = None) -> TrialRecord:
    valid = result.valid_metrics if result is not None else {}
    if values is None and result is not None:
        values = {"click": valid["click"]["auc"], "watch": valid["watch"]["mse"]}
    return TrialRecord(number=number, state=state, values=values, valid=valid,
                       test=(result.test_metrics or {}) if result is not None else {},
                       num_params=num_params, latency_ms=getattr(result, "latency_ms", None),
                       artifact=str(directory) if directory is not None else None,
                       on_front=on_front)


def source(*records: TrialRecord) -> ExportSource:
    return ExportSource(label="job 7", objectives=list(OBJECTIVES), trials=list(records),
                        info={"job": 7, "name": "export-test"})
