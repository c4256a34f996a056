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
