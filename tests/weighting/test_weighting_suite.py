"""The shared weighting suite: every registered strategy, hand-worked 2- and 3-task cases.

Each case fixes the per-task losses ``L_k = c_k + g_k . Z`` with ``Z = theta`` (the shared
representation is the identity of the shared parameters), so the per-task gradients are exactly
``g_k`` whether a method takes them on the parameters or on the representation, and the combined
update lands in ``theta.grad``. A strategy joins the suite by being registered.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from automtl.config import WeightingConfig
from automtl.weighting import WeightingContext, available_weightings, build_weighting, get_weighting
from automtl.weighting.gradient import GradientWeighting


def modes(name: str) -> list[str | None]:
    """The ``grad_on`` values a strategy offers (None: it has no such option)."""
    cls = get_weighting(name)
    if "grad_on" in cls.Params.model_fields:
        return ["parameters", "representation"]
    return [None]


def build(name: str, tasks: list[str], params: dict[str, Any] | None = None,
          grad_on: str | None = None, seed: int = 0):
    params = dict(params or {})
    if name == "fixed" and "weights" not in params:
        params["weights"] = {t: 1.0 + i for i, t in enumerate(tasks)}
    if grad_on is not None:
        params["grad_on"] = grad_on
    return build_weighting(WeightingConfig(name=name, params=params), tasks, seed=seed)


class Case:
    """Losses ``c_k + g_k . Z`` over a shared parameter ``theta`` (``Z = theta``)."""

    def __init__(self, grads: list[list[float]], values: list[float] | None = None,
                 names: list[str] | None = None, unlabelled: tuple[str, ...] = ()) -> None:
        self.g = torch.tensor(grads, dtype=torch.float64).float()
        self.names = names or [f"t{k}" for k in range(len(grads))]
        values = values or [1.0] * len(grads)
        self.theta = torch.nn.Parameter(torch.zeros(self.g.shape[1]))
        self.representation = self.theta * 1.0
        self.losses = {}
        for k, name in enumerate(self.names):
            if name in unlabelled:  # what masked_loss returns for a batch with no label
                self.losses[name] = (self.representation * 0.0).sum()
            else:
                self.losses[name] = values[k] + self.representation @ self.g[k]
        self.context = WeightingContext(
            shared_parameters=[self.theta], last_shared_parameters=[self.theta],
            shared_representation=self.representation,
            labelled={n: 0 if n in unlabelled else 8 for n in self.names})

    def run(self, weighting) -> tuple[dict[str, float], list[float]]:
        weights = weighting.backward(self.losses, self.context)
        grad = self.theta.grad
        return weights, [0.0] * self.g.shape[1] if grad is None else grad.tolist()


ORTHO_2 = [[2.0, 0.0], [0.0, 1.0]]
CONFLICT_2 = [[1.0, 0.0], [-1.0, 1.0]]
DIAG_3 = [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 4.0]]
SOFT_13 = [1 / (1 + math.e ** 2), math.e ** 2 / (1 + math.e ** 2)]  # softmax([1, 3])

#: (strategy, params, gradients, loss values, expected weights, expected update of theta)
HAND_WORKED: list[tuple[str, dict, list, list | None, list | None, list]] = [
    # equal: the sum
    ("equal", {}, ORTHO_2, None, [1, 1], [2, 1]),
    # GLS: geometric mean of 1 and 4 is 2; weights GLS / (K L_k)
    ("gls", {}, ORTHO_2, [1, 4], [1, 0.25], [2, 0.25]),
    ("gls", {}, DIAG_3, [1, 8, 27], [2, 0.25, 6 / 81], [2, 0.5, 24 / 81]),
    # STCH, mu = 1: softmax of the losses
    ("stch", {"mu": 1.0}, ORTHO_2, [1, 3], SOFT_13, [2 * SOFT_13[0], SOFT_13[1]]),
    # FAMO at uniform logits: w_k = (1/K) / (c L_k), c = sum_k (1/K) / L_k
    ("famo", {}, ORTHO_2, [1, 4], [0.8, 0.2], [1.6, 0.2]),
    ("famo", {}, DIAG_3, [1, 2, 4], [4 / 7, 2 / 7, 1 / 7], [4 / 7, 4 / 7, 4 / 7]),
    # DB-MTL, first step: log-loss gradients g_k / L_k = [2, 0], [0, 1]; scaled to norm 2
    ("db_mtl", {}, [[2.0, 0.0], [0.0, 4.0]], [1, 4], [1, 2], [2, 2]),
    ("db_mtl", {}, DIAG_3, [1, 1, 2], [2, 1, 1], [2, 2, 2]),
    # ExcessMTL's first step records the risks and keeps weights 1
    ("excess_mtl", {}, ORTHO_2, None, [1, 1], [2, 1]),
    # CAGrad: c = 0 is the mean gradient; orthogonal unit gradients with c = 0.5:
    # w = [1/2, 1/2] by symmetry, d = g0 (1 + c) / (1 + c^2) = 1.2 g0
    ("cagrad", {"c": 0.0}, ORTHO_2, None, [0.5, 0.5], [1.0, 0.5]),
    ("cagrad", {"c": 0.0}, DIAG_3, None, [1 / 3] * 3, [1 / 3, 2 / 3, 4 / 3]),
    ("cagrad", {"c": 0.5}, [[1.0, 0.0], [0.0, 1.0]], None, [0.6, 0.6], [0.6, 0.6]),
    # Nash-MTL: orthogonal gradients get 1 / ||g_k||
    ("nash_mtl", {}, [[2.0, 0.0], [0.0, 0.5]], None, [0.5, 2.0], [1.0, 1.0]),
    ("nash_mtl", {}, DIAG_3, None, [1.0, 0.5, 0.25], [1.0, 1.0, 1.0]),
    # IMTL-G: equal projections on the unit gradients, weights summing to 1
    ("imtl", {"mode": "gradient"}, [[1.0, 0.0], [0.0, 2.0]], None, [2 / 3, 1 / 3], [2 / 3, 2 / 3]),
    ("imtl", {"mode": "gradient"}, DIAG_3, None, [4 / 7, 2 / 7, 1 / 7], [4 / 7] * 3),
    ("imtl", {"mode": "hybrid"}, DIAG_3, None, [4 / 7, 2 / 7, 1 / 7], [4 / 7] * 3),  # s = 0
    ("imtl", {"mode": "loss"}, ORTHO_2, None, [1, 1], [2, 1]),  # e^0 = 1
    # Aligned-MTL: rows rescaled to sigma_min = 1 and orthogonal
    ("aligned_mtl", {}, ORTHO_2, None, [0.5, 1.0], [1.0, 1.0]),
    ("aligned_mtl", {}, DIAG_3, None, [1.0, 0.5, 0.25], [1.0, 1.0, 1.0]),
    # GradVac's first step (targets 0) is PCGrad: g1 + 0.5 g2 and g2 + g1, summed
    ("gradvac", {}, CONFLICT_2, None, [2.0, 1.5], [0.5, 1.5]),
    ("gradvac", {}, DIAG_3, None, [1, 1, 1], [1, 2, 4]),  # nothing conflicts: the sum
    ("pcgrad", {}, CONFLICT_2, None, [2.0, 1.5], [0.5, 1.5]),
    ("pcgrad", {}, DIAG_3, None, [1, 1, 1], [1, 2, 4]),
    # GradDrop with identical signs keeps everything
    ("graddrop", {}, [[1.0, 2.0], [3.0, 1.0]], None, [1, 1], [4.0, 3.0]),
    ("graddrop", {}, [[1.0, -2.0], [3.0, -1.0], [0.5, 0.0]], None, [1, 1, 1], [4.5, -3.0]),
    # UPGrad: g1 projected on g2's normal [0.5, 0.5], g2 on g1's [0, 1], averaged
    ("upgrad", {}, CONFLICT_2, None, [1.0, 0.75], [0.25, 0.75]),
    ("upgrad", {}, DIAG_3, None, [1 / 3] * 3, [1 / 3, 2 / 3, 4 / 3]),  # no conflict: mean
    # FairGrad: orthogonal gradients get ||g_k||^(-2 alpha / (1 + alpha))
    ("fairgrad", {"alpha": 1.0}, [[2.0, 0.0], [0.0, 0.5]], None, [0.5, 2.0], [1.0, 1.0]),
    ("fairgrad", {"alpha": 2.0}, DIAG_3, None, [1.0, 2 ** (-4 / 3), 4 ** (-4 / 3)],
     [1.0, 2 * 2 ** (-4 / 3), 4 * 4 ** (-4 / 3)]),
    # MoCo, first step (y = G): lambda = proj([.5, .5] - 0.1 diag(4, 1) [.5, .5])
    ("moco", {"gamma": 0.1}, ORTHO_2, None, [0.425, 0.575], [0.85, 0.575]),
    ("modo", {"gamma": 0.1, "rho": 0.0}, ORTHO_2, None, [0.425, 0.575], [0.85, 0.575]),
    # SDMGrad: lambda = 0 is MGDA's [0.2, 0.8]; lambda = 0.3: the min-norm point of
    # g_k + 0.3 g0 is w = [0.11, 0.89], coefficients (w + 0.15) / 1.3 = [0.2, 0.8]
    ("sdmgrad", {"lamda": 0.0}, ORTHO_2, None, [0.2, 0.8], [0.4, 0.8]),
    ("sdmgrad", {"lamda": 0.3}, ORTHO_2, None, [0.2, 0.8], [0.4, 0.8]),
    ("sdmgrad", {"lamda": 0.0}, DIAG_3, None, [16 / 21, 4 / 21, 1 / 21], [16 / 21, 8 / 21,
                                                                          4 / 21]),
    ("mgda", {}, ORTHO_2, None, [0.2, 0.8], [0.4, 0.8]),
    ("mgda", {}, DIAG_3, None, [16 / 21, 4 / 21, 1 / 21], [16 / 21, 8 / 21, 4 / 21]),
    ("uncertainty", {}, ORTHO_2, None, [0.5, 0.5], [1.0, 0.5]),
]

CASE_IDS = [f"{name}-{len(grads)}tasks-{i}" for i, (name, _, grads, *_) in enumerate(HAND_WORKED)]


def test_every_new_strategy_has_a_hand_worked_case() -> None:
    covered = {case[0] for case in HAND_WORKED}
    loss_only = {"dtp", "dwa", "fixed", "gradnorm", "ple_decay", "rlw"}  # own test files
    assert set(available_weightings()) - covered == loss_only


@pytest.mark.parametrize("case", HAND_WORKED, ids=CASE_IDS)
def test_hand_worked_case(case: tuple) -> None:
    name, params, grads, values, weights, update = case
    for grad_on in modes(name):
        names = [f"t{k}" for k in range(len(grads))]
        got_weights, got_update = Case(grads, values).run(build(name, names, params, grad_on))
        assert got_update == pytest.approx(update, rel=1e-4, abs=1e-5), grad_on
        assert list(got_weights.values()) == pytest.approx(weights, rel=1e-4, abs=1e-5), grad_on


# ------------------------------------------------------------- properties on general gradients

def random_grads(tasks: int, size: int, seed: int) -> torch.Tensor:
    return torch.randn(tasks, size, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)


def update_of(name: str, grads: torch.Tensor, params: dict | None = None,
              grad_on: str | None = None) -> tuple[np.ndarray, torch.Tensor]:
    case = Case(grads.tolist())
    weights, update = case.run(build(name, case.names, params, grad_on))
    return np.array(list(weights.values())), torch.tensor(update, dtype=torch.float64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_imtl_g_projects_equally_onto_every_unit_gradient(seed: int) -> None:
    grads = random_grads(3, 5, seed)
    weights, update = update_of("imtl", grads, {"mode": "gradient"})
    units = grads / grads.norm(dim=1, keepdim=True)
    projections = (units @ update).tolist()
    assert projections == pytest.approx([projections[0]] * 3, rel=1e-3)
    assert weights.sum() == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nash_mtl_weights_solve_the_bargaining_condition(seed: int) -> None:
    grads = random_grads(3, 6, seed)
    alpha, update = update_of("nash_mtl", grads)
    assert (alpha > 0).all()
    gram = (grads @ grads.T).numpy()
    assert gram @ alpha * alpha == pytest.approx([1.0, 1.0, 1.0], rel=1e-3)
    # each task's improvement g_k . d is 1 / alpha_k
    assert (grads @ update).numpy() == pytest.approx(1.0 / alpha, rel=1e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_upgrad_update_never_conflicts_with_a_task(seed: int) -> None:
    grads = random_grads(3, 4, seed)
    grads[1] = -grads[0] + 0.3 * grads[1]  # make sure something conflicts
    _, update = update_of("upgrad", grads)
    assert ((grads @ update) >= -1e-6).all()
    assert update.norm() > 0


@pytest.mark.parametrize("seed", [0, 1])
def test_aligned_mtl_rows_are_orthogonal_with_the_smallest_singular_value(seed: int) -> None:
    from automtl.weighting.aligned_mtl import aligned_matrix

    grads = random_grads(3, 5, seed)
    aligned = aligned_matrix(grads @ grads.T) @ grads
    sigma_min = torch.linalg.svdvals(grads).min().item()
    assert (aligned @ aligned.T).numpy() == pytest.approx(sigma_min ** 2 * np.eye(3), abs=1e-8)


@pytest.mark.parametrize("c", [0.2, 0.5, 1.0])
def test_cagrad_dual_weights_are_optimal_on_the_simplex(c: float) -> None:
    from automtl.weighting.cagrad import cagrad_weights

    grads = random_grads(3, 4, 7)
    gram = (grads @ grads.T).numpy()
    coefficients = cagrad_weights(gram, c, rescale=False)
    mean = np.full(3, 1 / 3)
    radius = c * math.sqrt(mean @ gram @ mean)
    w = (coefficients - mean)
    w = w / w.sum()

    def objective(x: np.ndarray) -> float:
        return float(x @ gram @ mean + radius * math.sqrt(x @ gram @ x))

    steps = np.linspace(0, 1, 81)
    grid = min(objective(np.array([a, b, 1 - a - b])) for a in steps for b in steps
               if a + b <= 1)
    assert objective(w) <= grid + 1e-6
    # the update stays in the ball of radius c ||g0|| around g0
    d = coefficients @ grads.numpy()
    g0 = mean @ grads.numpy()
    assert np.linalg.norm(d - g0) == pytest.approx(radius, rel=1e-6)


def test_fairgrad_with_alpha_one_is_nash_mtl() -> None:
    grads = random_grads(3, 6, 4)
    fair, _ = update_of("fairgrad", grads, {"alpha": 1.0})
    nash, _ = update_of("nash_mtl", grads)
    assert fair == pytest.approx(nash, rel=1e-3)


def test_graddrop_keeps_one_sign_per_coordinate_in_proportion_to_its_purity() -> None:
    # one coordinate, g = +1 and -3: purity 1/2 (1 + (-2) / 4) = 0.25: keep +1 a quarter of
    # the time, -3 otherwise
    grads = torch.tensor([[1.0], [-3.0]], dtype=torch.float64)
    weighting = build("graddrop", ["a", "b"], {"grad_on": "parameters"}, seed=3)
    kept = []
    for _ in range(400):
        case = Case(grads.tolist(), names=["a", "b"])
        kept.append(case.run(weighting)[1][0])
    assert set(kept) == {1.0, -3.0}
    assert kept.count(1.0) / len(kept) == pytest.approx(0.25, abs=0.06)


def test_gradvac_raises_a_pair_to_its_running_cosine_target() -> None:
    weighting = build("gradvac", ["a", "b"], {"beta": 1.0})
    Case([[1.0, 0.0], [1.0, 1.0]], names=["a", "b"]).run(weighting)  # cosine 1/sqrt(2)
    assert weighting.targets[0, 1].item() == pytest.approx(1 / math.sqrt(2))
    # orthogonal now: each gradient is moved until its cosine with the other is the target
    weights, update = Case([[1.0, 0.0], [0.0, 1.0]], names=["a", "b"]).run(weighting)
    # g_a + k g_b with cos = 1/sqrt(2) needs k = 1 (|g_a| = |g_b| = 1): both become [1, 1]
    assert update == pytest.approx([2.0, 2.0])
    assert list(weights.values()) == pytest.approx([2.0, 2.0])


def test_famo_logits_follow_the_rate_of_improvement() -> None:
    weighting = build("famo", ["a", "b"])
    Case(ORTHO_2, [1.0, 4.0], names=["a", "b"]).run(weighting)
    # next batch: a's loss halved, b's unchanged; delta = [log 2, 0] pulled back through the
    # softmax at z = [.5, .5] is [+, -]; Adam's first step moves each logit by lr = 0.025
    weights, _ = Case(ORTHO_2, [0.5, 4.0], names=["a", "b"]).run(weighting)
    assert weighting.logits.detach().tolist() == pytest.approx([-0.025, 0.025], rel=1e-3)
    z = torch.softmax(torch.tensor([-0.025, 0.025]), 0)
    c = z[0] / 0.5 + z[1] / 4.0
    assert list(weights.values()) == pytest.approx([float(z[0] / (c * 0.5)),
                                                    float(z[1] / (c * 4.0))],
                                                   rel=1e-4)


def test_excess_mtl_raises_the_weight_of_the_task_with_the_larger_excess_risk() -> None:
    weighting = build("excess_mtl", ["a", "b"], {"step_size": 0.1})
    Case([[1.0, 0.0], [0.0, 1.0]], names=["a", "b"]).run(weighting)
    weights, update = Case([[2.0, 0.0], [0.0, 1.0]], names=["a", "b"]).run(weighting)
    # risks: a 4 / sqrt(5), b 1 / sqrt(2), each over its first risk (about 1)
    ra, rb = 4 / math.sqrt(5 + 1e-7) * math.sqrt(1 + 1e-7), 1 / math.sqrt(2 + 1e-7) * \
        math.sqrt(1 + 1e-7)
    ea, eb = math.exp(0.1 * ra), math.exp(0.1 * rb)
    expected = [2 * ea / (ea + eb), 2 * eb / (ea + eb)]
    assert list(weights.values()) == pytest.approx(expected, rel=1e-5)
    assert update == pytest.approx([2 * expected[0], expected[1]], rel=1e-5)


def test_db_mtl_averages_the_log_loss_gradients_over_steps() -> None:
    weighting = build("db_mtl", ["a", "b"], {"beta": 0.5})
    Case([[2.0, 0.0], [0.0, 1.0]], names=["a", "b"]).run(weighting)
    _, update = Case([[4.0, 0.0], [0.0, 1.0]], names=["a", "b"]).run(weighting)
    # h_a = 4 + 0.5 (2 - 4) = 3, h_b = 1: b is scaled by 3
    assert update == pytest.approx([3.0, 3.0])


def test_moco_tracks_the_gradients_between_steps() -> None:
    weighting = build("moco", ["a", "b"], {"gamma": 0.1, "beta": 0.5, "beta_sigma": 0.0,
                                           "gamma_sigma": 0.0})
    Case(ORTHO_2, names=["a", "b"]).run(weighting)
    weights, update = Case([[4.0, 0.0], [0.0, 1.0]], names=["a", "b"]).run(weighting)
    # y_a = 2 - 0.5 (2 - 4) = 3; lambda = proj([.425, .575] - 0.1 diag(9, 1) [.425, .575])
    lam = np.array([0.425 - 0.3825, 0.575 - 0.0575])
    lam = lam + (1 - lam.sum()) / 2
    assert list(weights.values()) == pytest.approx(lam.tolist(), rel=1e-5)
    assert update == pytest.approx([3 * lam[0], lam[1]], rel=1e-5)


def test_imtl_loss_scales_learn_toward_unit_scaled_losses() -> None:
    weighting = build("imtl", ["a", "b"], {"mode": "loss"})
    (scales,) = weighting.extra_parameters()
    Case(ORTHO_2, [2.0, 0.5], names=["a", "b"]).run(weighting)
    assert scales.grad.tolist() == pytest.approx([1.0, -0.5])  # e^0 L - 1
    assert build("imtl", ["a", "b"], {"mode": "gradient"}).extra_parameters() == []


def test_rlw_weights_are_random_average_one_and_reproducible() -> None:
    for distribution in ["normal", "dirichlet"]:
        draws = []
        weighting = build("rlw", ["a", "b", "c"], {"distribution": distribution}, seed=5)
        for _ in range(300):
            weights, _ = Case(DIAG_3, names=["a", "b", "c"]).run(weighting)
            draws.append(list(weights.values()))
        draws_array = np.array(draws)
        assert draws_array.sum(1) == pytest.approx(3.0)
        assert draws_array.mean(0) == pytest.approx([1.0, 1.0, 1.0], abs=0.15)
        assert draws_array.std(0).min() > 0.1
        again = build("rlw", ["a", "b", "c"], {"distribution": distribution}, seed=5)
        assert list(Case(DIAG_3, names=["a", "b", "c"]).run(again)[0].values()) == \
            pytest.approx(draws[0])


def test_task_heads_get_their_own_unweighted_gradient() -> None:
    theta = torch.nn.Parameter(torch.zeros(2))
    heads = torch.nn.Parameter(torch.ones(2))
    g = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    losses = {"a": heads[0] * 3.0 + theta @ g[0], "b": heads[1] * 5.0 + theta @ g[1]}
    context = WeightingContext(shared_parameters=[theta], task_parameters=[heads])
    weights = build("mgda", ["a", "b"], {"grad_on": "parameters"}).backward(losses, context)
    assert list(weights.values()) == pytest.approx([0.2, 0.8])
    assert theta.grad.tolist() == pytest.approx([0.4, 0.8])
    assert heads.grad.tolist() == pytest.approx([3.0, 5.0])


# ------------------------------------------------------------- tasks with no labelled row

def test_mgda_updates_when_one_task_has_no_label_in_the_batch() -> None:
    """Issue 19 item 5: with cvr unlabelled in the batch MGDA chose {ctr: 0, cvr: 1}, the zero
    gradient, and the model made no update on 35% of the batches."""
    case = Case([[1.0, -0.5], [0.0, 0.0]], names=["ctr", "cvr"], unlabelled=("cvr",))
    weights, update = case.run(build("mgda", ["ctr", "cvr"]))
    assert weights == {"ctr": 1.0, "cvr": 0.0}
    assert update == pytest.approx([1.0, -0.5])


ALL_MODES = [(name, mode) for name in available_weightings() for mode in modes(name)]


@pytest.mark.parametrize("name, grad_on", ALL_MODES, ids=[f"{n}-{m}" for n, m in ALL_MODES])
def test_a_task_without_labels_is_left_out_and_the_others_still_update(
        name: str, grad_on: str | None) -> None:
    grads = [[1.0, 0.5, 0.0], [0.0, 0.0, 0.0], [-0.5, 1.0, 2.0]]
    three = Case(grads, [0.7, 0.0, 1.3], names=["a", "b", "c"], unlabelled=("b",))
    weights, update = three.run(build(name, ["a", "b", "c"], grad_on=grad_on, seed=1))
    assert weights["b"] == 0.0
    assert all(math.isfinite(w) for w in weights.values())
    assert any(abs(u) > 1e-6 for u in update), "no update reached the shared parameters"
    # the same as the strategy built for the two labelled tasks alone
    two = Case([grads[0], grads[2]], [0.7, 1.3], names=["a", "c"])
    params = {"weights": {"a": 1.0, "c": 3.0}} if name == "fixed" else None
    alone_weights, alone_update = two.run(build(name, ["a", "c"], params, grad_on, seed=1))
    assert update == pytest.approx(alone_update, rel=1e-4, abs=1e-6)
    assert [weights["a"], weights["c"]] == pytest.approx(list(alone_weights.values()),
                                                         rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("name, grad_on", ALL_MODES, ids=[f"{n}-{m}" for n, m in ALL_MODES])
def test_a_batch_without_any_label_changes_nothing(name: str, grad_on: str | None) -> None:
    case = Case([[0.0, 0.0], [0.0, 0.0]], names=["a", "b"], unlabelled=("a", "b"))
    weights, update = case.run(build(name, ["a", "b"], grad_on=grad_on))
    assert weights == {"a": 0.0, "b": 0.0}
    assert update == [0.0, 0.0]


def test_gradient_strategies_offer_grad_on_unless_their_state_is_per_parameter() -> None:
    for name in available_weightings():
        cls = get_weighting(name)
        if not issubclass(cls, GradientWeighting):
            continue
        assert ("grad_on" in cls.Params.model_fields) != cls.parameters_only, name
