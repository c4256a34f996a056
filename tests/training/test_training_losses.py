"""Masked per-task losses: absent labels never reach the loss or its gradient."""

from __future__ import annotations

import math

import pytest
import torch

from automtl.config import TaskSpec
from automtl.data.base import SplitTensors
from automtl.training.losses import masked_loss, task_losses

NAN = float("nan")


def test_binary_loss_is_the_mean_over_present_rows_and_ignores_nan_labels() -> None:
    logits = torch.tensor([0.0, 2.0, -1.0], requires_grad=True)
    labels = torch.tensor([1.0, NAN, 0.0])
    present = torch.tensor([True, False, True])
    loss = masked_loss(logits, labels, present, "binary")
    expected = (math.log(2.0) + math.log(1.0 + math.exp(-1.0))) / 2
    assert loss.item() == pytest.approx(expected)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[1].item() == 0.0  # the absent row gets no gradient
    # d/dz BCE(z, y) = sigmoid(z) - y, averaged over the 2 present rows
    assert logits.grad[0].item() == pytest.approx((0.5 - 1.0) / 2)
    assert logits.grad[2].item() == pytest.approx(1 / (1 + math.exp(1.0)) / 2)


def test_regression_loss_is_the_mse_over_present_rows() -> None:
    prediction = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    labels = torch.tensor([2.0, NAN, 5.0])
    loss = masked_loss(prediction, labels, torch.tensor([True, False, True]), "regression")
    assert loss.item() == pytest.approx((1.0 + 4.0) / 2)
    loss.backward()
    assert prediction.grad.tolist() == pytest.approx([-1.0, 0.0, -2.0])


@pytest.mark.parametrize("task_type", ["binary", "regression"])
def test_a_batch_without_labels_contributes_zero_and_a_finite_gradient(task_type: str) -> None:
    prediction = torch.tensor([0.5, -3.0], requires_grad=True)
    loss = masked_loss(prediction, torch.tensor([NAN, NAN]), torch.tensor([False, False]),
                       task_type)
    assert loss.item() == 0.0
    loss.backward()
    assert prediction.grad.tolist() == [0.0, 0.0]


def test_unknown_task_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="'ranking'"):
        masked_loss(torch.zeros(1), torch.zeros(1), torch.ones(1, dtype=torch.bool), "ranking")


def test_task_losses_reads_labels_by_column_name() -> None:
    batch = SplitTensors(numeric=torch.zeros(2, 1), categorical=torch.zeros(2, 0, dtype=torch.long),
                         labels=torch.tensor([[5.0, 1.0], [0.0, 0.0]]),
                         mask=torch.tensor([[True, True], [False, True]]),
                         task_names=("watch", "click"))
    tasks = [TaskSpec(name="click"), TaskSpec(name="watch", type="regression")]
    outputs = {"click": torch.tensor([0.0, 0.0]), "watch": torch.tensor([3.0, 100.0])}
    losses = task_losses(outputs, batch, tasks)
    assert losses["click"].item() == pytest.approx(math.log(2.0))
    assert losses["watch"].item() == pytest.approx(4.0)  # only row 0: (3 - 5)^2
    with pytest.raises(KeyError, match="'watch'"):
        task_losses({"click": outputs["click"]}, batch, tasks)
