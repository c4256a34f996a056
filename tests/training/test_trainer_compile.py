"""TrainConfig.compile: the trial's training forward runs through torch.compile, once per
trainer, and trains the same model as the eager forward."""

from __future__ import annotations

import pytest
import torch

from automtl import Trainer
from automtl.config import ModelConfig, TrainConfig, WeightingConfig
from automtl.data.synthetic import make_synthetic, synthetic_tasks
from automtl.data.tabular import TabularDataset
from automtl.models.registry import build_model
from automtl.weighting import build_weighting

# a CPU inductor compile takes tens of seconds; tiny models run on one intra-op thread
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def dataset() -> TabularDataset:
    frame = make_synthetic(rows=600, features=8, correlation=0.5, binary=True, seed=0)
    return TabularDataset(frame, synthetic_tasks(binary=True), valid_fraction=0.2,
                          test_fraction=0.0, seed=0)


def fit(data: TabularDataset, compile: bool) -> tuple[Trainer, object]:
    torch.manual_seed(0)
    model = build_model(ModelConfig(topology="mmoe", inputs=data.schema, tasks=data.tasks,
                                    num_shared_experts=2, expert_units=[8], tower_units=[4]))
    weighting = build_weighting(WeightingConfig(name="equal"), data.tasks, seed=0)
    # 480 training rows in batches of 100: the last batch (80 rows) is shorter
    config = TrainConfig(epochs=2, batch_size=100, early_stopping_patience=0, seed=0,
                         compile=compile)
    trainer = Trainer(model, weighting, config, "cpu")
    return trainer, trainer.fit(data.train, data.valid, data.tasks)


def test_compile_is_off_by_default():
    assert TrainConfig().compile is False


def test_compiled_training_matches_eager_training(dataset):
    eager_trainer, eager = fit(dataset, compile=False)
    compiled_trainer, compiled = fit(dataset, compile=True)
    assert eager_trainer._compiled_forward is None
    assert compiled_trainer._compiled_forward is not None
    for before, after in zip(eager.history, compiled.history, strict=True):
        for task, loss in before.train_losses.items():
            assert after.train_losses[task] == pytest.approx(loss, rel=1e-4, abs=1e-5)
    for task, metrics in eager.valid_metrics.items():
        assert compiled.valid_metrics[task]["auc"] == pytest.approx(metrics["auc"], abs=1e-4)


def test_the_compiled_forward_is_built_once_per_trainer(dataset):
    trainer, _ = fit(dataset, compile=True)
    first = trainer._compiled_forward
    trainer.fit(dataset.train, dataset.valid, dataset.tasks)
    assert trainer._compiled_forward is first
