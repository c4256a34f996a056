"""GradNorm, MGDA-UB and PCGrad against hand-worked gradients on tiny tensors."""

from __future__ import annotations

import itertools

import pytest
import torch

from automtl.config import WeightingConfig
from automtl.weighting import WeightingContext, build_weighting
from automtl.weighting.min_norm import min_norm_two, min_norm_weights
from automtl.weighting.pcgrad import project_conflicting


def build(name: str, params: dict | None = None, tasks: list | None = None, seed: int = 0):
    return build_weighting(WeightingConfig(name=name, params=params or {}),
                           tasks or ["a", "b"], seed=seed)


# ---------------------------------------------------------------- GradNorm

def test_gradnorm_weights_sum_to_task_count_and_move_toward_the_lagging_task() -> None:
    weighting = build("gradnorm", {"alpha": 1.5, "lr": 0.05})
    shared = torch.nn.Parameter(torch.ones(3))
    context = WeightingContext(last_shared_parameters=[shared])
    # step 1: equal losses and gradient norms record L(0) and leave the weights balanced
    used = weighting.backward({"a": shared.sum(), "b": shared.sum()}, context)
    assert used == {"a": 1.0, "b": 1.0}
    assert weighting.loss_weights.detach().tolist() == pytest.approx([1.0, 1.0])
    assert shared.grad.tolist() == pytest.approx([2.0, 2.0, 2.0])
    # step 2: task a's loss halved (ratio 0.5), task b's did not move (ratio 1): b lags
    shared.grad = None
    used = weighting.backward({"a": 0.5 * shared.sum(), "b": shared.sum()}, context)
    assert used == {"a": 1.0, "b": 1.0}  # the weights used are those before the update
    assert shared.grad.tolist() == pytest.approx([1.5, 1.5, 1.5])
    weights = weighting.loss_weights.detach().clone()
    assert weights.sum().item() == pytest.approx(2.0)
    assert weights[1] > 1.0 > weights[0]
    for _ in range(20):
        weighting.backward({"a": 0.5 * shared.sum(), "b": shared.sum()}, context)
    later = weighting.loss_weights.detach()
    assert later.sum().item() == pytest.approx(2.0)
    assert later[1] > weights[1]
    assert weighting.extra_parameters() == []  # trained by its own optimiser


def test_gradnorm_without_a_shared_layer_keeps_its_weights() -> None:
    weighting = build("gradnorm")
    head = torch.nn.Parameter(torch.ones(2))
    used = weighting.backward({"a": 3 * head[0], "b": head[1]}, WeightingContext())
    assert used == {"a": 1.0, "b": 1.0}
    assert weighting.loss_weights.detach().tolist() == [1.0, 1.0]
    assert head.grad.tolist() == [3.0, 1.0]


# ---------------------------------------------------------------- MGDA

@pytest.mark.parametrize("g1, g2, alpha", [
    ([1.0, 0.0], [0.0, 1.0], 0.5),
    ([2.0, 0.0], [0.0, 1.0], 0.2),  # ((g2 - g1).g2) / ||g1 - g2||^2 = 1 / 5
    ([1.0, 0.0], [2.0, 0.0], 1.0),  # (2) / 1 clipped to 1: g1 alone is the min-norm point
    ([3.0, 0.0], [1.0, 0.0], 0.0),  # (1 - 3) / 4 clipped to 0
])
def test_min_norm_two_matches_the_closed_form(g1: list, g2: list, alpha: float) -> None:
    v1, v2 = torch.tensor(g1), torch.tensor(g2)
    gamma, cost = min_norm_two(float(v1 @ v1), float(v1 @ v2), float(v2 @ v2))
    assert gamma == pytest.approx(alpha)
    assert cost == pytest.approx(float((alpha * v1 + (1 - alpha) * v2).pow(2).sum()))
    assert min_norm_weights(torch.stack([v1, v2])).tolist() == pytest.approx([alpha, 1 - alpha])


def test_mgda_two_tasks_weights_the_losses_by_the_closed_form() -> None:
    weighting = build("mgda")
    encoder = torch.nn.Parameter(torch.ones(2))
    representation = encoder * 1.0  # Z, the shared representation
    g1, g2 = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0])
    losses = {"a": (representation * g1).sum(), "b": (representation * g2).sum()}
    context = WeightingContext(shared_representation=representation,
                               shared_parameters=[encoder])
    weights = weighting.backward(losses, context)
    assert weights == {"a": pytest.approx(0.2), "b": pytest.approx(0.8)}
    assert encoder.grad.tolist() == pytest.approx((0.2 * g1 + 0.8 * g2).tolist())


def test_mgda_normalisation_changes_the_gradients_it_balances() -> None:
    # l2-normalised, g1 = [2, 0] and g2 = [0, 1] are unit vectors: the split is even
    weighting = build("mgda", {"normalization": "l2"})
    encoder = torch.nn.Parameter(torch.ones(2))
    representation = encoder * 1.0
    losses = {"a": (representation * torch.tensor([2.0, 0.0])).sum(),
              "b": (representation * torch.tensor([0.0, 1.0])).sum()}
    weights = weighting.backward(losses, WeightingContext(shared_representation=representation))
    assert weights == {"a": pytest.approx(0.5), "b": pytest.approx(0.5)}


def test_frank_wolfe_three_tasks_finds_the_min_norm_point_of_the_simplex() -> None:
    generator = torch.Generator().manual_seed(3)
    for _ in range(5):
        grads = torch.randn(3, 6, generator=generator, dtype=torch.float64)
        alpha = min_norm_weights(grads, max_iter=500, tolerance=1e-9)
        assert (alpha >= 0).all() and alpha.sum().item() == pytest.approx(1.0)
        norm = torch.linalg.vector_norm(alpha @ grads).item()
        for k in range(3):
            assert norm <= torch.linalg.vector_norm(grads[k]).item() + 1e-12
        steps = torch.linspace(0, 1, 101, dtype=torch.float64)
        grid = min(torch.linalg.vector_norm(a * grads[0] + b * grads[1] + (1 - a - b) * grads[2])
                   .item() for a, b in itertools.product(steps, steps) if a + b <= 1)
        assert norm <= grid + 1e-9


def test_mgda_with_nothing_shared_gives_each_head_its_own_gradient() -> None:
    # nothing shared, nothing to balance: each head its own task's gradient (Algorithm 2)
    weighting = build("mgda", tasks=["a", "b", "c", "d"])
    head = torch.nn.Parameter(torch.ones(4))
    weights = weighting.backward({t: head[i] * (i + 1) for i, t in enumerate("abcd")},
                                 WeightingContext())
    assert weights == {t: 1.0 for t in "abcd"}
    assert head.grad.tolist() == pytest.approx([1.0, 2.0, 3.0, 4.0])


# ---------------------------------------------------------------- PCGrad

def test_pcgrad_projection_worked_by_hand() -> None:
    grads = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])  # g1 . g2 = -1: they conflict
    projected = project_conflicting(grads, torch.Generator().manual_seed(0))
    # g1 - (-1 / 2) g2 = [0.5, 0.5]; g2 - (-1 / 1) g1 = [0, 1]
    assert projected.tolist() == [[0.5, 0.5], [0.0, 1.0]]
    assert projected[0] @ projected[1] >= 0


def test_pcgrad_leaves_no_conflicting_pair_among_two_tasks() -> None:
    generator = torch.Generator().manual_seed(1)
    conflicted = 0
    for _ in range(50):
        grads = torch.randn(2, 8, generator=generator, dtype=torch.float64)
        if grads[0] @ grads[1] >= 0:
            assert torch.equal(project_conflicting(grads, generator), grads)
            continue
        conflicted += 1
        projected = project_conflicting(grads, generator)
        assert projected[0] @ projected[1] >= -1e-12
        assert projected[0] @ grads[1] == pytest.approx(0.0, abs=1e-12)
    assert conflicted > 10


def test_pcgrad_backward_projects_shared_and_keeps_task_gradients() -> None:
    weighting = build("pcgrad")
    shared = torch.nn.Parameter(torch.tensor([0.3, 0.7]))
    heads = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    losses = {"a": heads[0] * (shared @ torch.tensor([1.0, 0.0])),
              "b": heads[1] * (shared @ torch.tensor([-1.0, 1.0]))}
    context = WeightingContext(shared_parameters=[shared], task_parameters=[heads])
    # the projected sum is 2 g_a + 1.5 g_b: g_a + ([0.5, 0.5] = g_a + 0.5 g_b) + (g_b + g_a)
    assert weighting.backward(losses, context) == {"a": 2.0, "b": 1.5}
    assert shared.grad.tolist() == pytest.approx([0.5, 1.5])  # [0.5, 0.5] + [0, 1]
    assert heads.grad.tolist() == pytest.approx([0.3, 0.4])  # ordinary: shared . direction


def test_pcgrad_order_is_reproducible_from_the_seed() -> None:
    grads = torch.randn(4, 5, generator=torch.Generator().manual_seed(2))
    runs = []
    for _ in range(2):
        weighting = build("pcgrad", tasks=["a", "b", "c", "d"], seed=11)
        runs.append(project_conflicting(grads, weighting.generator))
    assert torch.equal(runs[0], runs[1])
    weighting.manual_seed(11)
    assert torch.equal(project_conflicting(grads, weighting.generator), runs[0])
