"""Per-task metrics over labelled rows only, and the early-stopping objective."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from automtl.config import METRICS, TaskSpec
from automtl.data.base import SplitTensors
from automtl.training.metrics import split_metrics, task_metrics, validation_objective


def split(labels: list[list[float]], mask: list[list[bool]], names: tuple[str, ...]):
    n = len(labels)
    return SplitTensors(torch.zeros(n, 1), torch.zeros(n, 0, dtype=torch.long),
                        torch.tensor(labels), torch.tensor(mask), names)


def test_binary_metrics_ignore_the_absent_row() -> None:
    # rows 0-2 labelled (1, 0, 1); row 3 absent (label stored as 0) with the highest score
    data = split([[1.0], [0.0], [1.0], [0.0]], [[True], [True], [True], [False]], ("c",))
    logits = {"c": torch.tensor([2.0, 1.0, 0.0, 100.0])}
    metrics = split_metrics(logits, data, [TaskSpec(name="c")])["c"]
    assert set(metrics) == {m for m, (types, _) in METRICS.items() if "binary" in types}
    assert metrics["auc"] == pytest.approx(0.5)  # positives 2 and 0 against negative 1
    assert metrics["accuracy"] == pytest.approx(2 / 3)  # every p >= 0.5 predicts 1: 2 of 3
    sig = [1 / (1 + math.exp(-z)) for z in (2.0, 1.0, 0.0)]
    expected = -(math.log(sig[0]) + math.log(1 - sig[1]) + math.log(sig[2])) / 3
    assert metrics["logloss"] == pytest.approx(expected)


def test_regression_metrics_by_hand() -> None:
    data = split([[1.0], [2.0], [0.0], [4.0]], [[True], [True], [False], [True]], ("w",))
    metrics = split_metrics({"w": torch.tensor([1.0, 3.0, 50.0, 2.0])}, data,
                            [TaskSpec(name="w", type="regression")])["w"]
    assert metrics["mse"] == pytest.approx((0 + 1 + 4) / 3)
    assert metrics["rmse"] == pytest.approx(math.sqrt(5 / 3))
    assert metrics["mae"] == pytest.approx(1.0)
    mean = 7 / 3
    total = (1 - mean) ** 2 + (2 - mean) ** 2 + (4 - mean) ** 2
    assert metrics["r2"] == pytest.approx(1 - 5 / total)


def test_undefined_metrics_are_nan() -> None:
    one_class = task_metrics("binary", np.array([1, 1]), np.array([0.3, 0.1]))
    assert math.isnan(one_class["auc"]) and math.isfinite(one_class["logloss"])
    empty = task_metrics("regression", np.array([]), np.array([]))
    assert all(math.isnan(v) for v in empty.values())


def test_validation_objective_orients_minimised_metrics() -> None:
    tasks = [TaskSpec(name="c"), TaskSpec(name="w", type="regression")]
    metrics = {"c": {"auc": 0.8}, "w": {"mse": 0.4}}
    assert validation_objective(metrics, tasks) == pytest.approx((0.8 - 0.4) / 2)
    tasks = [TaskSpec(name="c", metric="logloss")]
    assert validation_objective({"c": {"logloss": 0.3}}, tasks) == pytest.approx(-0.3)


def _cases(seed: int, n: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Random binary cases with many tied scores (rounded logits), with and without weights
    (some weights zero)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rng.uniform(0.05, 0.6)).astype(np.int64)
    y[:2] = (0, 1)  # both classes present
    logits = np.round(rng.normal(size=n) + y * rng.uniform(0, 2), rng.integers(0, 3))
    weight = rng.exponential(size=n) * (rng.random(n) > 0.1)
    weight[:2] = 1.0
    return [(y, logits, None), (y, logits, weight)]


@pytest.mark.parametrize("seed", range(12))
def test_binary_metrics_equal_scikit_learn_with_ties_and_weights(seed: int) -> None:
    skm = pytest.importorskip("sklearn.metrics")
    for y, logits, weight in _cases(seed, 50 + 97 * seed):
        ours = task_metrics("binary", y, logits, weight)
        prob = 1 / (1 + np.exp(-logits))
        assert np.unique(prob).size < prob.size  # the case has ties
        assert ours["auc"] == pytest.approx(
            skm.roc_auc_score(y, prob, sample_weight=weight), abs=1e-12)
        assert ours["logloss"] == pytest.approx(
            skm.log_loss(y, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1],
                         sample_weight=weight), abs=1e-12)
        assert ours["accuracy"] == pytest.approx(
            skm.accuracy_score(y, prob >= 0.5, sample_weight=weight), abs=1e-12)


def test_auc_of_ties_counts_half_and_weights_count_as_repeated_rows() -> None:
    from automtl.training.metrics import roc_auc

    # one positive tied with one of two negatives, above the other: (1 + 0.5) / 2
    assert roc_auc(np.array([1, 0, 0]), np.array([0.5, 0.5, 0.1])) == pytest.approx(0.75)
    # weight 2 on a row equals the row twice
    y, s = np.array([1, 0, 1, 0]), np.array([0.3, 0.7, 0.9, 0.3])
    twice = roc_auc(np.r_[y, y[:1]], np.r_[s, s[:1]])
    assert roc_auc(y, s, np.array([2.0, 1, 1, 1])) == pytest.approx(twice, abs=1e-15)
    # a class with no weight: undefined
    assert math.isnan(roc_auc(y, s, np.array([0.0, 1, 0, 1])))


@pytest.mark.parametrize("seed", range(8))
def test_multiclass_metrics_equal_scikit_learn_ovr_macro(seed: int) -> None:
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(100 + seed)
    n, classes = 80 + 50 * seed, 3 + seed % 3
    y = np.r_[np.arange(classes), rng.integers(0, classes, n - classes)]
    logits = np.round(rng.normal(size=(n, classes)) + np.eye(classes)[y], 1)
    for weight in (None, rng.exponential(size=n)):
        ours = task_metrics("multiclass", y, logits, weight)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        prob = exp / exp.sum(axis=1, keepdims=True)
        clipped = np.clip(prob, 1e-7, 1.0)
        assert ours["auc_macro"] == pytest.approx(
            skm.roc_auc_score(y, prob, multi_class="ovr", average="macro",
                              sample_weight=weight), abs=1e-12)
        assert ours["logloss"] == pytest.approx(
            skm.log_loss(y, clipped / clipped.sum(axis=1, keepdims=True),
                         labels=list(range(classes)), sample_weight=weight), abs=1e-12)
        assert ours["accuracy"] == pytest.approx(
            skm.accuracy_score(y, prob.argmax(axis=1), sample_weight=weight), abs=1e-12)


def test_multiclass_label_outside_the_classes_is_refused() -> None:
    with pytest.raises(ValueError, match="class indices 0..2"):
        task_metrics("multiclass", np.array([0, 3]), np.zeros((2, 3)))


@pytest.mark.parametrize("seed", range(6))
def test_regression_metrics_equal_scikit_learn(seed: int) -> None:
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(200 + seed)
    n = 30 + 40 * seed
    y = rng.normal(size=n) * 3
    pred = y + rng.normal(size=n)
    cases = [(y, pred), (np.full(n, 2.0), pred), (np.full(n, 2.0), np.full(n, 2.0))]
    for y_true, y_pred in cases:
        for weight in (None, rng.exponential(size=n)):
            ours = task_metrics("regression", y_true, y_pred, weight)
            assert ours["mse"] == pytest.approx(
                skm.mean_squared_error(y_true, y_pred, sample_weight=weight), abs=1e-12)
            assert ours["mae"] == pytest.approx(
                skm.mean_absolute_error(y_true, y_pred, sample_weight=weight), abs=1e-12)
            assert ours["r2"] == pytest.approx(
                skm.r2_score(y_true, y_pred, sample_weight=weight), abs=1e-12)


def test_a_search_worker_does_not_import_scikit_learn() -> None:
    import subprocess
    import sys

    # what a search worker imports for a trial (automtl.search.trainable.run_trial)
    code = ("import sys, ray.tune, automtl.search.trainable, automtl.training.trainer, "
            "automtl.models.registry, automtl.report.utilisation, automtl.weighting; "
            "print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
