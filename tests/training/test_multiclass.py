"""Issue 19 item 7: ``multiclass`` tasks, from the spec and the data checks through the loss,
the metrics and training, to an exported bundle that predicts class probabilities in the
original class labels."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError

from automtl.config import (
    ArchitectureConfig,
    Candidate,
    ModelConfig,
    TaskSpec,
    TrainConfig,
    WeightingConfig,
)
from automtl.data import DataError, TabularDataset
from automtl.export.sources import ExportSource, TrialRecord
from automtl.jobspec import Objective
from automtl.models import build_model
from automtl.search.trainable import save_artifacts
from automtl.training import Trainer
from automtl.training.losses import masked_loss
from automtl.training.metrics import multiclass_metrics
from automtl.weighting import build_weighting

SEGMENTS = ["bronze", "gold", "none", "silver"]  # sorted: the output order
TASKS = [TaskSpec(name="click"), TaskSpec(name="segment", type="multiclass", weight="w")]


def _frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """A learnable 4-class label (from x0, x1 and the city) next to a binary one; one row in
    ten is outside the multiclass task's sample space."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    city = rng.choice(["paris", "rome", "oslo"], size=rows)
    score = np.stack([x[:, 0], -x[:, 0], x[:, 1], -x[:, 1] + (city == "rome")], axis=1)
    segment = np.array(SEGMENTS, dtype=object)[score.argmax(axis=1)]
    segment[rng.random(rows) < 0.1] = None
    return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "city": city,
                         "click": (x[:, 2] + rng.normal(size=rows) > 0).astype(float),
                         "segment": segment, "w": rng.uniform(0.5, 2.0, rows)})


def _dataset(frame: pd.DataFrame, tasks: list[TaskSpec] | None = None) -> TabularDataset:
    return TabularDataset(frame, tasks or TASKS, numeric=["x0", "x1", "x2"],
                          categorical=["city"], seed=0)


# --- the spec ----------------------------------------------------------------------------------

def test_the_spec_names_auc_macro_as_the_default_and_checks_metrics() -> None:
    task = TaskSpec(name="segment", type="multiclass")
    assert task.metric == "auc_macro" and task.direction == "maximize"
    assert TaskSpec(name="s", type="multiclass", metric="logloss").direction == "minimize"
    with pytest.raises(ValidationError, match="'auc' does not apply to multiclass tasks"):
        TaskSpec(name="s", type="multiclass", metric="auc")
    with pytest.raises(ValidationError, match="applies to regression tasks only"):
        TaskSpec(name="s", type="multiclass", transform="log1p")


# --- the data checks ---------------------------------------------------------------------------

def test_string_classes_are_the_train_splits_sorted_and_stored_with_the_encoders() -> None:
    data = _dataset(_frame())
    labels = data.schema.class_labels("segment")
    assert labels is not None and labels.classes == SEGMENTS
    column = data.train.task_column("segment")
    present = data.train.mask[:, column]
    assert set(data.train.labels[present, column].tolist()) == {0.0, 1.0, 2.0, 3.0}
    assert 0.85 < float(present.float().mean()) < 0.95  # missing labels are masked out
    counts = [c for c in data.task_counts if c.task == "segment"]
    assert [c.classes for c in counts] == [4, 4, 4]  # stratified: every class in every split
    assert {"task": "segment", "classes": SEGMENTS} in data.summary()["classes"]
    from automtl.commands.console import format_dataset_summary

    text = format_dataset_summary(data.summary())  # what `automtl search` prints
    assert "task segment valid: " in text and "4 classes" in text
    assert f"task segment classes (output order): {SEGMENTS}" in text


def test_integer_classes_stay_integers_in_numeric_order() -> None:
    frame = _frame()
    frame["segment"] = frame["segment"].map({"bronze": 10, "gold": 2, "none": 7, "silver": 30})
    labels = _dataset(frame).schema.class_labels("segment")
    assert labels is not None and labels.classes == [2, 7, 10, 30]


@pytest.mark.parametrize(("values", "message"), [
    (["a", "b"], "has 2 class\\(es\\) \\['a', 'b'\\] in the train split; a multiclass task "
                 "needs at least 3 \\(two classes: use type: binary\\)"),
    ([0.5, 1.0, 2.0], "label column 'segment' holds fractional numbers \\[0.5\\]"),
    ([True, False], "label column 'segment' is boolean; use type: binary"),
])
def test_bad_multiclass_labels_are_refused_naming_the_column(values: list[object],
                                                             message: str) -> None:
    frame = _frame()
    frame["segment"] = [values[i % len(values)] for i in range(len(frame))]
    with pytest.raises(DataError, match=message) as caught:
        _dataset(frame)
    assert caught.value.column == "segment"


def test_too_many_classes_are_refused() -> None:
    frame = _frame(rows=1500)
    frame["segment"] = [f"user{i}" for i in range(len(frame))]
    with pytest.raises(DataError, match="over the limit of 1000 \\(is it an id column\\?\\)"):
        _dataset(frame)


def test_a_class_missing_from_the_train_split_is_refused_naming_split_and_class() -> None:
    frame = _frame()
    frame["split"] = np.where(np.arange(len(frame)) < 450, "train",
                              np.where(np.arange(len(frame)) < 520, "valid", "test"))
    frame.loc[500, "segment"] = "platinum"  # a valid row only
    with pytest.raises(DataError, match="class\\(es\\) \\['platinum'\\] that the train split "
                                        "does not have, in valid \\(1 rows\\)"):
        TabularDataset(frame, TASKS, numeric=["x0", "x1", "x2"], categorical=["city"],
                       split_column="split")


def test_a_valid_split_with_one_class_is_refused_with_the_counts() -> None:
    frame = _frame()
    frame["split"] = np.where(np.arange(len(frame)) < 450, "train",
                              np.where(np.arange(len(frame)) < 520, "valid", "test"))
    frame.loc[450:519, "segment"] = "gold"
    with pytest.raises(DataError, match="task 'segment' \\(label column 'segment'\\) has only "
                                        "one class in the valid split: train .* labelled "
                                        "\\(4 classes\\); valid 70 labelled \\(1 classes\\)"):
        TabularDataset(frame, TASKS, numeric=["x0", "x1", "x2"], categorical=["city"],
                       split_column="split")


# --- loss and metrics --------------------------------------------------------------------------

def test_the_loss_is_masked_weighted_cross_entropy() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [5.0, 5.0, 5.0]])
    label = torch.tensor([0.0, 2.0, 123.0])  # the third row is absent: its label is ignored
    present = torch.tensor([True, True, False])
    per_row = torch.nn.functional.cross_entropy(logits[:2], torch.tensor([0, 2]),
                                                reduction="none")
    assert torch.isclose(masked_loss(logits, label, present, "multiclass"), per_row.mean())
    weight = torch.tensor([3.0, 1.0, 9.0])
    expected = (3.0 * per_row[0] + per_row[1]) / 4.0
    assert torch.isclose(masked_loss(logits, label, present, "multiclass", weight), expected)
    none = masked_loss(logits, label, torch.zeros(3, dtype=torch.bool), "multiclass")
    assert float(none) == 0.0


def test_metrics_accuracy_logloss_and_macro_auc() -> None:
    y = np.array([0, 1, 2, 2])
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6],
                              [0.5, 0.1, 0.4]]))
    metrics = multiclass_metrics(y, logits)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["logloss"] == pytest.approx(-np.mean(np.log([0.7, 0.8, 0.6, 0.4])))
    # one-vs-rest AUCs: class 0 1.0, class 1 1.0, class 2: positives 0.6, 0.4 vs 0.1, 0.1
    assert metrics["auc_macro"] == pytest.approx(1.0)
    only_two = multiclass_metrics(np.array([0, 0, 1]), logits[:3])  # class 2 absent: left out
    assert not math.isnan(only_two["auc_macro"])
    assert all(math.isnan(v) for v in multiclass_metrics(np.array([], dtype=int),
                                                         logits[:0]).values())


# --- training and export -----------------------------------------------------------------------

def _train(data: TabularDataset, directory: Path, topology: str = "mmoe",
           weighting: str = "mgda", epochs: int = 6):
    candidate = Candidate(
        architecture=ArchitectureConfig(topology=topology, embedding_dim=3, tower_units=[8],
                                        expert_units=[16], num_shared_experts=2),
        weighting=WeightingConfig(name=weighting),
        train=TrainConfig(epochs=epochs, batch_size=64, lr=0.02, seed=0))
    config = ModelConfig.from_parts(candidate.architecture, data.schema, data.tasks)
    torch.manual_seed(0)
    model = build_model(config)
    trainer = Trainer(model, build_weighting(candidate.weighting, data.tasks, seed=0),
                      candidate.train, "cpu")
    result = trainer.fit(data.train, data.valid, data.tasks, test=data.test)
    save_artifacts(directory, model, candidate, config)
    return model.eval(), result


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_a_tiny_multiclass_job_learns_and_its_bundle_predicts_original_labels(
        tmp_path: Path) -> None:
    from automtl.data import encode_frame
    from automtl.export import export_trial
    from automtl.export.standalone import load_module

    frame = _frame()
    data = _dataset(frame)
    model, result = _train(data, tmp_path / "trial-0")
    segment = result.valid_metrics["segment"]
    assert set(segment) == {"auc_macro", "logloss", "accuracy"}
    assert segment["auc_macro"] > 0.8 and segment["accuracy"] > 0.5  # chance: 0.5 and ~0.25
    assert result.primary("valid")["segment"] == segment["auc_macro"]

    trial = TrialRecord(number=0, state="complete", values={"segment": segment["auc_macro"]},
                        valid=result.valid_metrics, artifact=str(tmp_path / "trial-0"),
                        on_front=True, num_params=model.num_parameters())
    source = ExportSource(label="job 1", trials=[trial], info={"job": 1, "name": "mc"},
                          objectives=[Objective(name="segment", direction="maximize",
                                                metric="auc_macro")])
    bundle = export_trial(source, tmp_path / "bundle", trial=0).directory
    exported = load_module(bundle / "model.py", "multiclass_model")
    assert exported.class_labels("segment") == SEGMENTS
    net = exported.load_model(str(bundle / "weights.pt"))
    rows = frame.drop(columns=["click", "segment", "w"]).iloc[:50]
    scores = exported.predict(net, rows)
    assert scores["segment"].shape == (50, 4)
    torch.testing.assert_close(scores["segment"].sum(dim=1), torch.ones(50))
    encoded = encode_frame(rows, data.schema, data.tasks, labels=False)
    with torch.no_grad():
        expected = torch.softmax(model(encoded.numeric, encoded.categorical)["segment"], dim=1)
    torch.testing.assert_close(scores["segment"], expected, atol=1e-5, rtol=1e-5)
    traced = torch.jit.load(str(bundle / "model.ts"))
    with torch.no_grad():
        torch.testing.assert_close(traced(encoded.numeric, encoded.categorical)["segment"],
                                   model(encoded.numeric, encoded.categorical)["segment"],
                                   atol=1e-5, rtol=1e-5)
    predicted = exported.predicted_classes(scores["segment"], "segment")
    truth = frame["segment"].iloc[:50]
    agree = np.mean([p == t for p, t in zip(predicted, truth, strict=True) if t is not None])
    assert set(predicted) <= set(SEGMENTS) and agree > 0.5
