"""Targeted checks of adatt, dselect_k, sluice and l2_constrained (issue 17).

The shared suite (``test_model_zoo.py``) already runs over them, as over every registered
topology; these are the checks of what each paper says: closed-form parameter counts, AdaTT's
fusion formula, DSelect-k's k-sparse selection, the sluice alpha/beta mixing, and the L2
penalty between columns (and that the trainer applies it).
"""

from __future__ import annotations

import math
from typing import Any, cast

import pytest
import torch
from test_model_zoo import (
    SCHEMA,
    gate_params,
    input_dim_and_embedding_params,
    mlp_params,
    random_batch,
    tower_params,
)
from test_model_zoo import make_model as suite_model

from automtl import Trainer
from automtl.config import ModelConfig, TaskSpec, TrainConfig, WeightingConfig
from automtl.data.synthetic import make_synthetic, synthetic_tasks
from automtl.data.tabular import TabularDataset
from automtl.models import build_model
from automtl.models.adatt import AdaTT, FusionLevel
from automtl.models.dselect_k import DSelectGate, DSelectK, binary_codes, smooth_step
from automtl.models.l2_constrained import L2Constrained
from automtl.models.sluice import Sluice, initial_alpha
from automtl.weighting import build_weighting


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


THREE_TASKS = [TaskSpec(name=n) for n in ("click", "like", "share")]
#: the two tasks these hand computations are written for (the shared suite's list may grow)
TASKS = [TaskSpec(name="click"), TaskSpec(name="watch_time", type="regression")]


def make_model(topology: str, tasks: list[TaskSpec] | None = None, **overrides: Any) -> Any:
    """The shared suite's model builder, on :data:`TASKS` unless told otherwise."""
    return suite_model(topology, tasks=tasks or TASKS, **overrides)


# --- AdaTT --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("levels", "task_experts", "shared_experts", "gate_kind"),
                         [(1, 2, 1, "linear"), (3, 2, 2, "mlp"), (2, 1, 0, "linear"),
                          (2, 0, 3, "linear"), (3, 3, 1, "linear"), (2, 1, 1, "mlp")])
def test_adatt_parameter_count_closed_form(levels: int, task_experts: int, shared_experts: int,
                                           gate_kind: str) -> None:
    """Per level: E = T K + S experts; T task gates over all E (plus, at inner levels with
    shared experts, the shared gate); residual weights K per task when K > 1 and S for the
    shared unit at inner levels when S > 1 (a single own expert is added with weight 1)."""
    expert_units, towers, emb, gate_units = [16, 8], [4], 3, [5]
    model = make_model("adatt", tasks=THREE_TASKS, levels=levels, num_task_experts=task_experts,
                       num_shared_experts=shared_experts, expert_units=expert_units,
                       tower_units=towers, embedding_dim=emb, gate_kind=gate_kind,
                       gate_units=gate_units)
    in_dim, expected = input_dim_and_embedding_params(SCHEMA, emb)
    t = len(THREE_TASKS)
    total = t * task_experts + shared_experts
    for level in range(levels):
        inner = level < levels - 1
        expected += total * mlp_params(in_dim, expert_units)
        expected += t * gate_params(in_dim, total, gate_kind, gate_units)
        if inner and shared_experts > 0:
            expected += gate_params(in_dim, total, gate_kind, gate_units)
        if task_experts > 1:
            expected += t * task_experts
        if inner and shared_experts > 1:
            expected += shared_experts
        in_dim = expert_units[-1]
    expected += tower_params(in_dim, towers, t)
    assert model.num_parameters() == expected


@pytest.mark.parametrize(("task_experts", "shared_experts"), [(2, 2), (1, 1), (0, 2)])
def test_adatt_fusion_is_gated_sum_of_all_experts_plus_own_residual(task_experts: int,
                                                                    shared_experts: int) -> None:
    """f_t = sum_j g_tj E_j + sum_k v_tk E_tk (Li et al. 2023, eq. 3-5), written out per
    expert from the level's own parameters, and the shared unit likewise."""
    model = cast(AdaTT, make_model("adatt", tasks=THREE_TASKS, levels=2,
                                   num_task_experts=task_experts,
                                   num_shared_experts=shared_experts, expert_units=[6]))
    model.eval()
    level = cast(FusionLevel, model.levels[0])
    numeric, categorical = random_batch(SCHEMA, 9, seed=1)
    with torch.no_grad():
        features = model.inputs(numeric, categorical)
        outputs, shared_out, weights, experts = level([features] * 3, features)
        k, s = task_experts, shared_experts
        assert experts.shape == (9, 3 * k + s, 6)
        for t in range(3):
            gate = torch.softmax(level.task_gates[t].layers(features), dim=-1)
            expected = sum(gate[:, j:j + 1] * experts[:, j] for j in range(3 * k + s))
            for e in range(k):
                v = 1.0 if k == 1 else level.task_native[t][e]
                expected = expected + v * experts[:, t * k + e]
            torch.testing.assert_close(weights[t], gate)
            torch.testing.assert_close(outputs[t], expected)
        assert shared_out is not None
        gate = torch.softmax(level.shared_gate.layers(features), dim=-1)
        expected = sum(gate[:, j:j + 1] * experts[:, j] for j in range(3 * k + s))
        for e in range(s):
            v = 1.0 if s == 1 else level.shared_native[e]
            expected = expected + v * experts[:, 3 * k + e]
        torch.testing.assert_close(shared_out, expected)
    # the second level's task-t experts read f_t: changing f_t of task 0 moves them only
    second = cast(FusionLevel, model.levels[1])
    assert second.shared_gate is None  # the last level feeds the towers, not a shared unit
    if task_experts:
        with torch.no_grad():
            base = second.experts(second.expert_inputs(outputs, shared_out))
            moved = second.experts(second.expert_inputs([outputs[0] + 1.0, *outputs[1:]],
                                                        shared_out))
        changed = (base - moved).abs().amax(dim=(0, 2)) > 0
        assert changed.tolist() == [e < task_experts for e in range(3 * k + s)]


# --- DSelect-k ---------------------------------------------------------------------------------

def test_smooth_step_is_the_cubic_between_flat_ends() -> None:
    gamma = 2.0
    z = torch.tensor([-5.0, -1.0, -0.5, 0.0, 0.5, 1.0, 5.0], requires_grad=True)
    s = smooth_step(z, gamma)
    cubic = lambda x: -2 / gamma**3 * x**3 + 3 / (2 * gamma) * x + 0.5  # noqa: E731
    expected = [0.0, 0.0, cubic(-0.5), 0.5, cubic(0.5), 1.0, 1.0]
    torch.testing.assert_close(s.detach(), torch.tensor(expected))
    s.sum().backward()
    # flat (zero gradient) outside [-gamma/2, gamma/2], 3/(2 gamma) at 0
    assert z.grad is not None
    assert z.grad[0] == 0 and z.grad[-1] == 0
    assert float(z.grad[3]) == pytest.approx(3 / (2 * gamma))


def test_binary_codes_name_every_expert_once() -> None:
    codes = binary_codes(5)
    assert codes.shape == (5, 3)
    assert [int("".join(str(int(b)) for b in row), 2) for row in codes] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("experts", "k"), [(4, 2), (8, 3), (3, 1), (5, 2), (2, 4)])
def test_dselect_k_parameter_count_closed_form(experts: int, k: int) -> None:
    """Per task gate: a linear layer to k' m selector logits (m = ceil(log2 n) bits, k' =
    min(k, n)) and, for k' > 1, a linear layer to the k' selector-mixture logits."""
    expert_units, towers, emb = [16, 8], [4], 5
    model = make_model("dselect_k", num_shared_experts=experts, k=k, expert_units=expert_units,
                       tower_units=towers, embedding_dim=emb)
    in_dim, expected = input_dim_and_embedding_params(SCHEMA, emb)
    bits, selectors = math.ceil(math.log2(experts)), min(k, experts)
    gate = in_dim * selectors * bits + selectors * bits
    if selectors > 1:
        gate += in_dim * selectors + selectors
    expected += experts * mlp_params(in_dim, expert_units) + len(TASKS) * gate
    expected += tower_params(expert_units[-1], towers, len(TASKS))
    assert model.num_parameters() == expected


def _pin_selectors(gate: DSelectGate, choices: list[int]) -> None:
    """Selector i's logits become +-gamma (past the smooth-step's flat ends) spelling the
    binary code of expert ``choices[i]`` for every input."""
    bits = gate.bits
    with torch.no_grad():
        assert gate.selectors is not None
        gate.selectors.weight.zero_()
        logits = [gate.gamma * (1.0 if (c >> (bits - 1 - b)) & 1 else -1.0)
                  for c in choices for b in range(bits)]
        gate.selectors.bias.copy_(torch.tensor(logits))


@pytest.mark.parametrize(("experts", "k"), [(8, 3), (5, 2), (4, 4)])
def test_dselect_k_selects_exactly_k_experts_at_eval(experts: int, k: int) -> None:
    """With the selectors' smooth-steps at 0/1 (where training converges, the entropy term
    speeding it up), each task's weights are non-zero on exactly the k selected experts, sum
    to 1, and the prediction does not depend on any other expert."""
    model = cast(DSelectK, make_model("dselect_k", num_shared_experts=experts, k=k,
                                      expert_units=[8]))
    choices = {"click": list(range(k)), "watch_time": list(range(experts - k, experts))}
    for task, gate in zip(model.tower_tasks, model.gates, strict=True):
        _pin_selectors(cast(DSelectGate, gate), choices[task])
    model.eval()
    batch = random_batch(SCHEMA, 32, seed=2)
    with torch.no_grad():
        weights = model.gate_weights(*batch)
        before = model(*batch)
    for task, w in weights.items():
        assert w.shape == (32, experts)
        nonzero = (w > 0).sum(dim=1)
        assert (nonzero == k).all(), (task, nonzero)
        assert set(torch.nonzero(w[0]).flatten().tolist()) == set(choices[task])
        torch.testing.assert_close(w.sum(dim=1), torch.ones(32))
    # an expert no task selects can change arbitrarily without changing any prediction
    unused = [e for e in range(experts) if all(e not in c for c in choices.values())]
    with torch.no_grad():
        for weight in model.experts.weights:
            weight[unused] += 10.0
        after = model(*batch)
    for name in before:
        torch.testing.assert_close(after[name], before[name])
    if unused:
        with torch.no_grad():
            model.experts.weights[0][choices["click"][0]] += 10.0
            moved = model(*batch)
        assert not torch.allclose(moved["click"], before["click"])


def test_dselect_k_selectors_choosing_one_expert_give_it_all_the_weight() -> None:
    """Two selectors on the same expert: at most k, here one expert with weight 1."""
    model = cast(DSelectK, make_model("dselect_k", num_shared_experts=4, k=2))
    gate = cast(DSelectGate, model.gates[0])
    _pin_selectors(gate, [3, 3])
    model.eval()
    with torch.no_grad():
        weights, _ = gate(torch.randn(6, gate.selectors.in_features))
    torch.testing.assert_close(weights, torch.eye(4)[3].expand(6, 4))


@pytest.mark.parametrize("experts", [3, 5, 6])
def test_dselect_k_weights_sum_to_one_for_any_number_of_experts(experts: int) -> None:
    model = make_model("dselect_k", num_shared_experts=experts, k=2)
    model.eval()
    with torch.no_grad():
        weights = model.gate_weights(*random_batch(SCHEMA, 20, seed=3))
    for w in weights.values():
        assert (w >= 0).all()
        torch.testing.assert_close(w.sum(dim=1), torch.ones(20))


def test_dselect_k_penalty_is_the_papers_regulariser() -> None:
    """Entropy of each selector (nats, summed over selectors, mean over rows) times
    entropy_reg, plus 1/mass - 1 for the codes that name no expert (n not a power of 2); the
    trainer gets it through the model's penalty after a training forward."""
    train = TrainConfig()
    quiet = make_model("dselect_k", num_shared_experts=4, k=2, entropy_reg=0.0)
    quiet.train()
    quiet(*random_batch(SCHEMA, 16))
    assert quiet.penalty(train) is None  # power of 2, no entropy term: nothing to add

    model = cast(DSelectK, make_model("dselect_k", num_shared_experts=4, k=2, entropy_reg=0.3))
    model.train()
    numeric, categorical = random_batch(SCHEMA, 16)
    model(numeric, categorical)
    penalty = model.penalty(train)
    assert penalty is not None and penalty.dim() == 0
    features = model.inputs(numeric, categorical)
    expected = torch.zeros(())
    for gate in model.gates:
        _, selectors = gate(features)                          # [B, k, n], each row sums to 1
        entropy = -(selectors * torch.log(selectors + 1e-6)).sum(dim=(1, 2)).mean()
        expected = expected + 0.3 * entropy
    torch.testing.assert_close(penalty, expected)
    # entropy is near its maximum (uniform selectors, log 4 nats each) at initialisation
    assert float(penalty.detach()) == pytest.approx(0.3 * 2 * 2 * math.log(4), rel=0.02)
    assert model.penalty(train) is None  # consumed: one penalty per training forward
    penalty.backward()
    assert all(g.selectors.weight.grad is not None for g in model.gates)

    uneven = cast(DSelectK, make_model("dselect_k", num_shared_experts=3, k=1))
    uneven.train()
    uneven(numeric, categorical)
    # 2 bits, codes 0..2 name experts, 3 does not: mass = 1 - S(z0) S(z1) ~ 3/4 at init
    value = uneven.penalty(train)
    assert value is not None
    assert float(value.detach()) == pytest.approx(len(TASKS) * (1 / 0.75 - 1), rel=0.05)


def test_trainer_applies_the_dselect_k_entropy_regulariser() -> None:
    """Through the model's penalty, the Trainer's entropy term drives the selectors towards
    binary codes: after the same short training, their entropy and the share of smooth-step
    outputs strictly between 0 and 1 are well below those of a run without it."""
    frame = make_synthetic(rows=800, features=6, correlation=0.5, binary=True, seed=0)
    data = TabularDataset(frame, synthetic_tasks(binary=True), valid_fraction=0.2,
                          test_fraction=0.0, seed=0)

    def selector_state(entropy_reg: float) -> tuple[float, float]:
        torch.manual_seed(0)
        model = cast(DSelectK, build_model(ModelConfig(
            topology="dselect_k", inputs=data.schema, tasks=data.tasks, num_shared_experts=4,
            k=2, expert_units=[8], tower_units=[4], entropy_reg=entropy_reg)))
        strategy = build_weighting(WeightingConfig(name="equal"), data.tasks)
        Trainer(model, strategy, TrainConfig(epochs=3, batch_size=64, lr=1e-2,
                                             early_stopping_patience=0), "cpu").fit(
            data.train, data.valid, data.tasks)
        model.eval()
        with torch.no_grad():
            features = model.inputs(data.valid.numeric, data.valid.categorical)
            gates = [cast(DSelectGate, g) for g in model.gates]
            entropy = sum(float(g.regulariser(features, 1.0)) for g in gates) / len(gates)
            steps = [smooth_step(g.selectors(features), g.gamma) for g in gates]
            inside = float(torch.cat([((s > 0) & (s < 1)).float().flatten() for s in steps])
                           .mean())
        return entropy, inside

    (entropy, inside), (free_entropy, free_inside) = selector_state(3.0), selector_state(0.0)
    assert entropy < 0.8 * free_entropy and inside < 0.8 * free_inside, \
        (entropy, free_entropy, inside, free_inside)


# --- sluice --------------------------------------------------------------------------------------

def test_sluice_initialisation_is_the_authors_imbalanced_one() -> None:
    model = cast(Sluice, make_model("sluice", layers=3, units=8, subspaces=2))
    alpha = model.alphas[0].detach()
    assert alpha.shape == (4, 4)  # 2 tasks x 2 subspaces
    torch.testing.assert_close(alpha.sum(dim=1), torch.ones(4))
    assert torch.all(alpha.diagonal() == 0.9)
    torch.testing.assert_close(model.beta.detach(), torch.tensor([[0.05, 0.05, 0.9]] * 2))
    assert initial_alpha(1).tolist() == [[1.0]]


@pytest.mark.parametrize("subspaces", [1, 2, 4])
def test_sluice_alpha_mixes_subspaces_and_beta_mixes_layers(subspaces: int) -> None:
    """Written out: h'_(t,g) = sum alpha h_(s,h) over the T G subspaces after every layer, and
    each tower reads sum_l beta_(t,l) h'_(t,l)."""
    model = cast(Sluice, make_model("sluice", layers=2, units=8, subspaces=subspaces,
                                    tower_units=[]))
    torch.manual_seed(1)
    with torch.no_grad():
        for alpha in model.alphas:
            alpha.copy_(torch.rand_like(alpha))
        model.beta.copy_(torch.rand_like(model.beta))
    model.eval()
    numeric, categorical = random_batch(SCHEMA, 5, seed=4)
    with torch.no_grad():
        hidden = model.inputs(numeric, categorical)
        per_layer = []
        for column, alpha in zip(model.columns, model.alphas, strict=True):
            out = column(hidden)                                            # [B, T, U]
            parts = [out[:, t, g * (8 // subspaces):(g + 1) * (8 // subspaces)]
                     for t in range(2) for g in range(subspaces)]
            mixed = [sum(alpha[i, j] * parts[j] for j in range(len(parts)))
                     for i in range(len(parts))]
            hidden = torch.stack([torch.cat(mixed[t * subspaces:(t + 1) * subspaces], dim=1)
                                  for t in range(2)], dim=1)
            per_layer.append(hidden)
        representations, _, _ = model.represent(numeric, categorical)
        for t in range(2):
            expected = sum(model.beta[t, layer] * per_layer[layer][:, t] for layer in range(2))
            torch.testing.assert_close(representations[t], expected)


def test_sluice_with_identity_alpha_keeps_the_columns_apart() -> None:
    """alpha = I: task 0's prediction does not depend on task 1's column at all."""
    model = cast(Sluice, make_model("sluice", layers=2, units=8, subspaces=2))
    with torch.no_grad():
        for alpha in model.alphas:
            alpha.copy_(torch.eye(alpha.shape[0]))
    model.eval()
    batch = random_batch(SCHEMA, 6, seed=5)
    with torch.no_grad():
        before = model(*batch)
        for column in model.columns:
            column.weights[0][1] += 5.0  # task 1's column
        after = model(*batch)
    torch.testing.assert_close(after["click"], before["click"])
    assert not torch.allclose(after["watch_time"], before["watch_time"])


def test_sluice_orthogonality_penalty_is_the_papers_constraint() -> None:
    """orthogonality * sum over layers, tasks and subspace pairs of ||G_g^T G_h||_F^2 / B^2 on
    the latest training batch's unmixed layer outputs; 0 for orthogonal subspaces; nothing
    without a weight, with one subspace, or before a training forward."""
    train = TrainConfig()
    model = cast(Sluice, make_model("sluice", layers=2, units=6, subspaces=3,
                                    orthogonality=0.5))
    assert model.penalty(train) is None  # no training forward yet
    model.train()
    numeric, categorical = random_batch(SCHEMA, 10, seed=7)
    model(numeric, categorical)
    unmixed = list(model._unmixed)
    penalty = model.penalty(train)
    assert penalty is not None
    expected = 0.0
    for out in unmixed:
        for t in range(2):
            parts = [out[:, t, 2 * g:2 * g + 2].detach() for g in range(3)]
            for g in range(3):
                for h in range(g + 1, 3):
                    expected += float((parts[g].T @ parts[h]).pow(2).sum()) / 10 ** 2
    assert float(penalty.detach()) == pytest.approx(0.5 * expected, rel=1e-5)
    assert model.penalty(train) is None  # consumed: one penalty per training forward
    penalty.backward()
    assert model.columns[0].weights[0].grad is not None

    # rows where subspace 0 is active never have subspace 1 active: G_0^T G_1 = 0
    out = torch.zeros(4, 2, 6)
    out[:2, :, 0:2] = torch.randn(2, 2, 2)
    out[2:, :, 2:4] = torch.randn(2, 2, 2)
    assert float(model.orthogonality_penalty([out])) == 0.0
    out[0, 0, 2] = 1.0
    assert float(model.orthogonality_penalty([out])) > 0.0

    for settings in (dict(orthogonality=0.0, subspaces=2), dict(orthogonality=1.0, subspaces=1)):
        other = make_model("sluice", units=6, **settings)
        other.train()
        other(numeric, categorical)
        assert other.penalty(train) is None, settings


def test_sluice_units_must_split_into_the_subspaces() -> None:
    with pytest.raises(ValueError, match="units: 10 is not divisible by subspaces"):
        make_model("sluice", units=10, subspaces=4)


# --- L2-constrained ---------------------------------------------------------------------------

def _columns_equal(model: L2Constrained) -> None:
    with torch.no_grad():
        for layer in model.inputs[1:]:
            layer.embeddings.weight.copy_(model.inputs[0].embeddings.weight)
        for tensor in [*model.columns.weights, *model.columns.biases]:
            tensor[1:] = tensor[0]


def test_l2_penalty_is_zero_for_equal_columns_and_grows_with_distance() -> None:
    model = cast(L2Constrained, make_model("l2_constrained", tasks=THREE_TASKS,
                                           penalty_weight=0.5, bottom_units=[8, 4]))
    train = TrainConfig()
    _columns_equal(model)
    penalty = model.penalty(train)
    assert penalty is not None and float(penalty.detach()) == 0.0
    torch.manual_seed(0)
    direction = [torch.randn_like(w[2]) for w in model.columns.weights]
    values = []
    for scale in (1.0, 2.0, 3.0):
        with torch.no_grad():
            for weight, d in zip(model.columns.weights, direction, strict=True):
                weight[2] = weight[0] + scale * d  # move column 2 away from columns 0, 1
        values.append(float(model.penalty(train).detach()))
    # column 2 differs from 2 others by scale * d: 0.5 * 2 * scale^2 * ||d||^2
    norm = sum(float(d.pow(2).sum()) for d in direction)
    assert values == pytest.approx([0.5 * 2 * s * s * norm for s in (1.0, 2.0, 3.0)], rel=1e-4)


def test_l2_distance_is_the_sum_over_pairs_of_columns() -> None:
    model = cast(L2Constrained, make_model("l2_constrained", tasks=THREE_TASKS,
                                           penalty_weight=1.0))
    expected = 0.0
    for s in range(3):
        for t in range(s + 1, 3):
            for column in range(model.inputs[s].num_categorical):  # each feature's table
                a, b = (model.inputs[i].column_table(column) for i in (s, t))
                expected += float((a - b).detach().pow(2).sum())
            for w in [*model.columns.weights, *model.columns.biases]:
                expected += float((w[s] - w[t]).detach().pow(2).sum())
    assert float(model.distance().detach()) == pytest.approx(expected, rel=1e-5)


def test_l2_with_weight_zero_is_independent_columns() -> None:
    """No penalty; the same size as single_task; a task's loss moves only its own column."""
    model = make_model("l2_constrained", penalty_weight=0.0)
    assert model.penalty(TrainConfig()) is None
    assert model.num_parameters() == make_model("single_task").num_parameters()
    model.train()
    numeric, categorical = random_batch(SCHEMA, 32, seed=6)
    model(numeric, categorical)["click"].sum().backward()
    l2 = cast(L2Constrained, model)
    for weight in l2.columns.weights:
        assert weight.grad is not None
        assert weight.grad[0].abs().sum() > 0 and weight.grad[1].abs().sum() == 0
    assert all(p.grad is None or not p.grad.any() for p in l2.inputs[1].parameters())


def test_trainer_applies_the_l2_penalty() -> None:
    """One epoch (10 Adam steps) with a large penalty weight pulls the columns together;
    with weight 0 they stay about as far apart as initialised."""
    frame = make_synthetic(rows=400, features=6, correlation=0.5, binary=True, seed=0)
    data = TabularDataset(frame, synthetic_tasks(binary=True), valid_fraction=0.2,
                          test_fraction=0.0, seed=0)

    def distance_after(weight: float) -> tuple[float, float]:
        torch.manual_seed(0)
        model = cast(L2Constrained, build_model(ModelConfig(
            topology="l2_constrained", inputs=data.schema, tasks=data.tasks,
            bottom_units=[8], tower_units=[4], penalty_weight=weight)))
        before = float(model.distance().detach())
        strategy = build_weighting(WeightingConfig(name="equal"), data.tasks)
        Trainer(model, strategy, TrainConfig(epochs=1, batch_size=32, lr=1e-2,
                                             early_stopping_patience=0), "cpu").fit(
            data.train, data.valid, data.tasks)
        return before, float(model.distance().detach())

    start, tied = distance_after(1.0)
    _, free = distance_after(0.0)
    assert tied < 0.5 * start and free > 0.8 * start, (start, tied, free)
