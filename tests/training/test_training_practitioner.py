"""Issue 19 in training: regression labels on any scale, auxiliary tasks with undefined
metrics, the per-batch "has labels" signal for weightings, and batch sizes fitted to the data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from automtl.config import (
    ArchitectureConfig,
    ModelConfig,
    TaskSpec,
    TrainConfig,
    WeightingConfig,
)
from automtl.data import TabularDataset
from automtl.models import build_model
from automtl.search.trainable import MIN_BATCH_SIZE, fit_batch_size
from automtl.training import Trainer
from automtl.training.losses import labelled_tasks
from automtl.training.metrics import validation_objective
from automtl.weighting import build_weighting
from automtl.weighting.base import Weighting, WeightingContext


def _watch_frame(unit: float, rows: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4))
    minutes = np.exp(0.5 * x[:, 0] + 0.3 * x[:, 1]) * 2.0  # skewed, non-negative watch time
    return pd.DataFrame({**{f"x{i}": x[:, i] for i in range(4)},
                         "click": (x[:, 2] + rng.normal(size=rows) > 0).astype(float),
                         "watch": minutes * unit})


def _fit(frame: pd.DataFrame, tasks: list[TaskSpec], epochs: int = 3,
         objectives: list[str] | None = None) -> tuple[Trainer, dict, TabularDataset]:
    ds = TabularDataset(frame, tasks, seed=0)
    config = ModelConfig.from_parts(ArchitectureConfig(topology="shared_bottom",
                                                       bottom_units=[32], tower_units=[16]),
                                    ds.schema, tasks)
    torch.manual_seed(0)
    model = build_model(config)
    trainer = Trainer(model, build_weighting(WeightingConfig(name="equal"), tasks), TrainConfig(
        epochs=epochs, batch_size=128, lr=5e-3, early_stopping_patience=0), "cpu")
    result = trainer.fit(ds.train, ds.valid, tasks, objectives=objectives)
    return trainer, result.valid_metrics, ds


@pytest.mark.parametrize("transform", ["none", "log1p"])
def test_a_label_in_seconds_learns_as_well_as_in_minutes(transform: str) -> None:
    """Issue 19 item 2: r2 must not depend on the label's unit (metrics in original units)."""
    r2, mse = {}, {}
    for unit in (1.0, 60.0):
        tasks = [TaskSpec(name="click"),
                 TaskSpec(name="watch", type="regression", metric="r2", transform=transform)]
        _, metrics, _ = _fit(_watch_frame(unit), tasks)
        r2[unit], mse[unit] = metrics["watch"]["r2"], metrics["watch"]["mse"]
    assert r2[1.0] > 0.5 and r2[60.0] > 0.5
    if transform == "none":  # standardising makes training unit-free; mse is in label units
        assert r2[60.0] == pytest.approx(r2[1.0], abs=0.02)
        assert mse[60.0] == pytest.approx(3600 * mse[1.0], rel=0.1)


def test_an_auxiliary_task_with_an_undefined_metric_does_not_stop_early_stopping() -> None:
    tasks = [TaskSpec(name="click"), TaskSpec(name="aux")]
    metrics = {"click": {"auc": 0.8}, "aux": {"auc": math.nan}}
    assert math.isnan(validation_objective(metrics, tasks))
    assert validation_objective(metrics, tasks, objectives=["click"]) == pytest.approx(0.8)
    assert math.isnan(validation_objective(metrics, tasks, objectives=["click", "aux"]))
    frame = _watch_frame(1.0)
    frame["aux"] = frame["click"]
    frame.loc[frame.index[::2], "aux"] = np.nan
    _, _, ds = _fit(frame, [TaskSpec(name="click"), TaskSpec(name="aux")], epochs=1,
                    objectives=["click"])
    assert len(ds.train) > 0


class _Recorder(Weighting):
    weighting_name = "recorder"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.seen: list[list[bool]] = []

    def backward(self, losses, context: WeightingContext) -> dict[str, float]:
        assert context.labelled is not None
        self.seen.append([context.labelled[t] > 0 for t in self.task_names])
        self.stacked(losses).sum().backward()
        return dict.fromkeys(self.task_names, 1.0)


def test_weightings_are_told_which_tasks_have_labels_in_the_batch() -> None:
    frame = _watch_frame(1.0, rows=640)
    frame["rare"] = np.nan
    frame.loc[frame.index[:40], "rare"] = (np.arange(40) % 2).astype(float)
    tasks = [TaskSpec(name="click"), TaskSpec(name="rare")]
    ds = TabularDataset(frame, tasks, seed=0)
    batch = ds.train.slice(0, 8)
    expected = [bool(batch.mask[:, 0].any()), bool(batch.mask[:, 1].any())]
    counts = [int(batch.mask[:, 0].sum()), int(batch.mask[:, 1].sum())]
    assert labelled_tasks(batch, ["click", "rare"]) == {"click": counts[0], "rare": counts[1]}
    assert [n > 0 for n in labelled_tasks(batch, ["rare", "click"]).values()] == expected[::-1]
    config = ModelConfig.from_parts(ArchitectureConfig(topology="shared_bottom",
                                                       bottom_units=[8], tower_units=[4]),
                                    ds.schema, tasks)
    recorder = _Recorder(["click", "rare"])
    Trainer(build_model(config), recorder, TrainConfig(epochs=1, batch_size=16,
                                                       early_stopping_patience=0),
            "cpu").fit(ds.train, ds.valid, tasks)
    assert all(seen[0] for seen in recorder.seen)  # click is labelled in every batch
    assert any(not seen[1] for seen in recorder.seen) and any(seen[1] for seen in recorder.seen)


@pytest.mark.parametrize("batch,rows,expected", [(2048, 3000, 150), (512, 3000, 150),
                                                 (512, 400, MIN_BATCH_SIZE),
                                                 (1024, 1_000_000, 1024), (64, 3000, 64),
                                                 (512, None, 512)])
def test_batch_sizes_are_fitted_to_the_train_split(batch: int, rows: int | None,
                                                   expected: int) -> None:
    assert fit_batch_size(batch, rows) == expected
