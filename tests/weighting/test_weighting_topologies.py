"""Every registered weighting (and each ``grad_on`` it offers) trains every registered topology.

One short epoch on a tiny dataset where y2 is unlabelled on half of the rows: the point is that
each strategy finds the shared part (parameters, representation, shared gates above it) of each
topology and moves the model, not the metrics.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from automtl import Trainer
from automtl.config import DomainSpec, ModelConfig, TaskSpec, TrainConfig, WeightingConfig
from automtl.data.synthetic import make_synthetic, synthetic_tasks
from automtl.data.tabular import TabularDataset
from automtl.models import available_topologies
from automtl.models.registry import build_model, get_topology
from automtl.weighting import available_weightings, build_weighting, get_weighting

SIZES = dict(embedding_dim=4, num_shared_experts=2, expert_units=[8], bottom_units=[8],
             tower_units=[4])


def variants() -> list[tuple[str, str | None]]:
    rows: list[tuple[str, str | None]] = []
    for name in available_weightings():
        if "grad_on" in get_weighting(name).Params.model_fields:
            rows += [(name, "parameters"), (name, "representation")]
        else:
            rows.append((name, None))
    return rows


@pytest.fixture(scope="module")
def tiny() -> TabularDataset:
    frame = make_synthetic(rows=300, features=6, correlation=0.5, binary=True, seed=0)
    frame.loc[frame.index % 2 == 0, "y2"] = np.nan
    return TabularDataset(frame, synthetic_tasks(binary=True), valid_fraction=0.2,
                          test_fraction=0.0, seed=0)


@pytest.fixture(scope="module")
def tiny_domains() -> TabularDataset:
    """The same rows in two domains (column ``site``), for topologies that read the domain:
    the tasks are then y1__a, y1__b, y2__a, y2__b."""
    frame = make_synthetic(rows=300, features=6, correlation=0.5, binary=True, seed=0)
    frame.loc[frame.index % 2 == 0, "y2"] = np.nan
    frame["site"] = np.where(frame.index % 3 == 0, "a", "b")
    return TabularDataset(frame, synthetic_tasks(binary=True), valid_fraction=0.2,
                          test_fraction=0.0, seed=0,
                          domains=DomainSpec(column="site", values=["a", "b"]))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("topology", available_topologies())
@pytest.mark.parametrize("weighting, grad_on", variants(),
                         ids=[f"{n}-{m}" if m else n for n, m in variants()])
def test_weighting_trains_topology(tiny: TabularDataset, tiny_domains: TabularDataset,
                                   weighting: str, grad_on: str | None, topology: str) -> None:
    if "domains" in get_topology(topology).job_fields:
        tiny = tiny_domains
    torch.manual_seed(0)
    model = build_model(ModelConfig(topology=topology, inputs=tiny.schema, tasks=tiny.tasks,
                                    sequence=None if tiny is tiny_domains else ["y1", "y2"],
                                    **SIZES))  # aitm's conversion steps
    params: dict = ({"weights": {t.name: 1.0 + i for i, t in enumerate(tiny.tasks)}}
                    if weighting == "fixed" else {})
    if grad_on is not None:
        params["grad_on"] = grad_on
    strategy = build_weighting(WeightingConfig(name=weighting, params=params), tiny.tasks)
    trainer = Trainer(model, strategy, TrainConfig(epochs=1, batch_size=64, lr=1e-2,
                                                   early_stopping_patience=0), "cpu")
    shared_before = [p.detach().clone() for p in model.shared_parameters()]
    before = [p.detach().clone() for p in model.parameters()]
    result = trainer.fit(tiny.train, tiny.valid, tiny.tasks)
    assert all(math.isfinite(v) for v in result.history[0].train_losses.values())
    assert all(math.isfinite(w) and w >= 0 for w in result.history[0].weights.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    if shared_before:
        assert any(not torch.equal(a, b) for a, b in
                   zip(shared_before, model.shared_parameters(), strict=True))


@pytest.fixture(scope="module")
def sparse_multiclass() -> TabularDataset:
    """A binary task and a 3-class task labelled on about one row in eight, so many batches
    of 16 hold no multiclass label at all."""
    frame = make_synthetic(rows=300, features=6, correlation=0.5, binary=True, seed=1)
    rank = (frame["x0"] + frame["x1"]).rank(pct=True).to_numpy()
    segment = np.array(["low", "mid", "high"], dtype=object)[np.minimum(rank * 3, 2.999)
                                                             .astype(int)]
    segment[np.random.default_rng(0).random(len(frame)) > 0.12] = None
    frame = frame.drop(columns=["y2"]).assign(segment=segment)
    tasks = [TaskSpec(name="y1"), TaskSpec(name="segment", type="multiclass")]
    return TabularDataset(frame, tasks, valid_fraction=0.2, test_fraction=0.0, seed=0)


@pytest.mark.parametrize("weighting, grad_on", variants(),
                         ids=[f"{n}-{m}" if m else n for n, m in variants()])
def test_weighting_trains_a_multiclass_task_across_unlabelled_batches(
        sparse_multiclass: TabularDataset, weighting: str, grad_on: str | None) -> None:
    data = sparse_multiclass
    torch.manual_seed(0)
    model = build_model(ModelConfig(topology="mmoe", inputs=data.schema, tasks=data.tasks,
                                    **SIZES))
    params: dict = {"weights": {"y1": 1.0, "segment": 2.0}} if weighting == "fixed" else {}
    if grad_on is not None:
        params["grad_on"] = grad_on
    strategy = build_weighting(WeightingConfig(name=weighting, params=params), data.tasks)
    labelled: list[int] = []
    backward = strategy.backward

    def recording(losses, context):  # type: ignore[no-untyped-def]
        labelled.append(context.labelled["segment"])
        return backward(losses, context)

    strategy.backward = recording  # type: ignore[method-assign]
    trainer = Trainer(model, strategy, TrainConfig(epochs=1, batch_size=16, lr=1e-2,
                                                   early_stopping_patience=0), "cpu")
    tower = model.heads.towers[1].output.weight
    assert tower.shape[0] == 3  # one logit per class
    before = tower.detach().clone()
    shared_before = [p.detach().clone() for p in model.shared_parameters()]
    result = trainer.fit(data.train, data.valid, data.tasks)
    assert all(math.isfinite(v) for v in result.history[0].train_losses.values())
    assert all(math.isfinite(w) and w >= 0 for w in result.history[0].weights.values())
    assert not torch.equal(before, tower)  # the multiclass head learnt
    assert any(not torch.equal(a, b) for a, b in
               zip(shared_before, model.shared_parameters(), strict=True))
    assert set(result.valid_metrics["segment"]) == {"auc_macro", "logloss", "accuracy"}
    assert 0 in labelled and max(labelled) > 0  # batches without a multiclass label happened
