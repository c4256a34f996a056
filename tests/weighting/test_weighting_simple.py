"""equal, fixed, uncertainty, dwa, dtp and ple_decay against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from automtl.config import TaskSpec, WeightingConfig
from automtl.weighting import WeightingContext, build_weighting
from automtl.weighting.dtp import dtp_weights


def two_losses(scale_a: float = 2.0, scale_b: float = 3.0) -> tuple[torch.nn.Parameter, dict]:
    """A scalar parameter x with L_a = scale_a * x, L_b = scale_b * x at x = 1."""
    x = torch.nn.Parameter(torch.tensor(1.0))
    return x, {"a": scale_a * x, "b": scale_b * x}


def build(name: str, params: dict | None = None, tasks: list | None = None):
    return build_weighting(WeightingConfig(name=name, params=params or {}), tasks or ["a", "b"])


def test_equal_sums_the_losses() -> None:
    x, losses = two_losses()
    assert build("equal").backward(losses, WeightingContext()) == {"a": 1.0, "b": 1.0}
    assert x.grad.item() == pytest.approx(5.0)


def test_fixed_uses_the_given_weights() -> None:
    x, losses = two_losses()
    weighting = build("fixed", {"weights": {"b": 0.5, "a": 2.0}})
    assert weighting.backward(losses, WeightingContext()) == {"a": 2.0, "b": 0.5}
    assert x.grad.item() == pytest.approx(2.0 * 2.0 + 0.5 * 3.0)


@pytest.mark.parametrize("weights, message", [
    ({"a": 1.0, "b": 1.0, "c": 1.0}, r"unknown task\(s\) \['c'\]"),
    ({"a": 1.0}, r"lacks task\(s\) \['b'\]"),
    ({"a": 1.0, "b": -1.0}, r">= 0 for \['b'\]"),
])
def test_fixed_rejects_bad_task_names_and_weights(weights: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build("fixed", {"weights": weights})


def test_fixed_requires_weights() -> None:
    with pytest.raises(ValueError, match=r"params\.weights"):
        build("fixed")


def test_uncertainty_gradients_match_the_closed_form_and_the_weights_train() -> None:
    x, losses = two_losses(2.0, 3.0)
    weighting = build("uncertainty")
    (log_var,) = weighting.extra_parameters()
    assert log_var is weighting.log_variances and log_var.requires_grad
    weights = weighting.backward(losses, WeightingContext())
    assert weights == {"a": pytest.approx(0.5), "b": pytest.approx(0.5)}
    # d/ds [1/2 exp(-s) L + 1/2 s] at s = 0 is (1 - L) / 2
    assert log_var.grad.tolist() == pytest.approx([(1 - 2.0) / 2, (1 - 3.0) / 2])
    assert x.grad.item() == pytest.approx(0.5 * 2.0 + 0.5 * 3.0)
    torch.optim.SGD([log_var], lr=0.1).step()
    assert log_var.detach().tolist() == pytest.approx([0.05, 0.1])
    x2, losses2 = two_losses(2.0, 3.0)
    new = weighting.backward(losses2, WeightingContext())
    assert new["a"] == pytest.approx(0.5 * math.exp(-0.05))
    assert new["b"] < new["a"]


def test_uncertainty_paper_form_uses_the_classification_factor_for_binary_tasks() -> None:
    tasks = [TaskSpec(name="a"), TaskSpec(name="b", type="regression")]
    weighting = build("uncertainty", {"form": "paper"}, tasks)
    x, losses = two_losses()
    assert weighting.backward(losses, WeightingContext()) == \
        {"a": pytest.approx(1.0), "b": pytest.approx(0.5)}
    with pytest.raises(ValueError, match="task types"):
        build("uncertainty", {"form": "paper"}, ["a", "b"])


def test_dwa_is_equal_for_two_epochs_then_follows_the_loss_ratios() -> None:
    weighting = build("dwa", {"temperature": 2.0})
    x, losses = two_losses()
    assert weighting.backward(losses, WeightingContext()) == {"a": 1.0, "b": 1.0}
    weighting.on_epoch_end(0, {"a": 1.0, "b": 1.0}, {})
    assert weighting.weights == [1.0, 1.0]
    weighting.on_epoch_end(1, {"a": 1.0, "b": 0.5}, {})
    e1, e2 = math.exp(1.0 / 2), math.exp(0.5 / 2)  # ratios 1 and 0.5 over T = 2
    expected = {"a": 2 * e1 / (e1 + e2), "b": 2 * e2 / (e1 + e2)}
    x, losses = two_losses()
    weights = weighting.backward(losses, WeightingContext())
    assert weights == {k: pytest.approx(v) for k, v in expected.items()}
    assert x.grad.item() == pytest.approx(expected["a"] * 2.0 + expected["b"] * 3.0)


def test_dwa_gives_equal_weights_for_equal_loss_ratios() -> None:
    weighting = build("dwa")
    weighting.on_epoch_end(0, {"a": 4.0, "b": 0.2}, {})
    weighting.on_epoch_end(1, {"a": 2.0, "b": 0.1}, {})
    assert weighting.weights == pytest.approx([1.0, 1.0])


def test_dtp_weights_match_the_focal_formula() -> None:
    raw = dtp_weights([0.9, 0.6], gamma=1.0, normalize=False)
    assert raw == pytest.approx([-0.1 * math.log(0.9), -0.4 * math.log(0.6)])
    assert dtp_weights([0.9, 0.6], gamma=2.0, normalize=True) == pytest.approx(
        [2 * 0.01 * math.log(0.9) / (0.01 * math.log(0.9) + 0.16 * math.log(0.6)),
         2 * 0.16 * math.log(0.6) / (0.01 * math.log(0.9) + 0.16 * math.log(0.6))])


def test_dtp_prioritises_the_task_with_the_higher_training_loss() -> None:
    tasks = [TaskSpec(name="a"), TaskSpec(name="b", type="regression")]
    weighting = build("dtp", {"smoothing": 1.0, "normalize": False}, tasks)
    x, losses = two_losses(0.1, 0.5)  # a: 0.1, b: 0.5 at x = 1
    assert weighting.backward(losses, WeightingContext()) == {"a": 1.0, "b": 1.0}
    x, losses = two_losses(0.1, 0.5)
    weights = weighting.backward(losses, WeightingContext())
    kappa_a, kappa_b = math.exp(-0.1), math.exp(-0.5)
    assert weights["b"] > weights["a"]
    assert weights == {"a": pytest.approx(-(1 - kappa_a) * math.log(kappa_a)),
                       "b": pytest.approx(-(1 - kappa_b) * math.log(kappa_b))}


def test_dtp_kpi_is_a_moving_average_over_training_batches_never_validation() -> None:
    weighting = build("dtp", {"smoothing": 0.5, "normalize": False})
    for scale_a in (0.2, 0.6):
        _, losses = two_losses(scale_a, 1.0)
        weighting.backward(losses, WeightingContext())
    assert weighting.kpis == {"a": pytest.approx(0.5 * math.exp(-0.6) + 0.5 * math.exp(-0.2)),
                              "b": pytest.approx(math.exp(-1.0))}
    before = dict(weighting.kpis), list(weighting.weights)
    # validation results reach on_epoch_end: they must not move the KPI or the weights
    weighting.on_epoch_end(0, {"a": 0.1, "b": 0.1}, {"a": {"auc": 0.99}, "b": {"auc": 0.51}})
    assert (weighting.kpis, weighting.weights) == before


def test_dtp_keeps_the_kpi_of_a_task_without_a_finite_loss_in_the_batch() -> None:
    weighting = build("dtp", {"smoothing": 1.0, "normalize": False})
    weighting.update_kpis({"a": 0.5, "b": 0.5})
    weighting.update_kpis({"a": float("nan"), "b": 1.0})
    assert weighting.kpis == {"a": pytest.approx(math.exp(-0.5)), "b": pytest.approx(math.exp(-1))}


def test_ple_decay_follows_its_schedule() -> None:
    weighting = build("ple_decay", {"initial_weights": {"a": 1.0, "b": 2.0},
                                    "gamma": {"a": 0.5, "b": 1.0}})
    x, losses = two_losses()
    assert weighting.backward(losses, WeightingContext(epoch=0)) == {"a": 1.0, "b": 2.0}
    x, losses = two_losses()
    assert weighting.backward(losses, WeightingContext(epoch=3)) == \
        {"a": pytest.approx(0.125), "b": pytest.approx(2.0)}
    assert x.grad.item() == pytest.approx(0.125 * 2.0 + 2.0 * 3.0)
    single = build("ple_decay", {"gamma": 0.9})
    assert single.weights_at(2) == pytest.approx([0.81, 0.81])


def test_ple_decay_rejects_task_names_it_does_not_know() -> None:
    with pytest.raises(ValueError, match=r"params\.gamma.*unknown \['c'\]"):
        build("ple_decay", {"gamma": {"a": 0.9, "b": 0.9, "c": 0.9}})
