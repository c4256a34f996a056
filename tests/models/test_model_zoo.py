"""The model zoo: one suite over every registered topology, plus targeted checks.

The suite is parametrised with ``available_topologies()``, so a topology is tested the day it
registers: forward shapes and keys, gradients reaching every parameter, deterministic eval,
TorchScript tracing, the shared/task parameter split, ESMM products and a short training run.
Every model gets a conversion ``sequence`` (its plain binary tasks in order, the job spec's
field), which topologies such as aitm need and the others ignore.
"""

from __future__ import annotations

import math
from typing import Any, cast

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from automtl.config import (
    ArchitectureConfig,
    CategoricalFeature,
    ClassLabels,
    DomainSpec,
    InputSchema,
    ModelConfig,
    NumericFeature,
    TaskSpec,
    TrainConfig,
)
from automtl.models import MTLModel, available_topologies, build_model, get_topology
from automtl.models.cross_stitch import initial_stitch
from automtl.models.hard_concrete import GatedConnection, HardConcreteGates
from automtl.models.heads import product_logit
from automtl.models.layers import Experts
from automtl.models.params import SNRParams

TOPOLOGIES = available_topologies()
#: topologies whose Params declare softmax gates (read from the registry, not listed here)
GATED = {t for t in TOPOLOGIES if get_topology(t).Params.gated}
SNR = [t for t in TOPOLOGIES if t.startswith("snr")]

# ``city`` is also the domain column (of a multi-domain job; only ``star`` reads it): domains
# a, b, c, while d, e and index 0 are outside the job's domains (star's centre-only path)
SCHEMA = InputSchema(
    numeric=[NumericFeature(name=f"x{i}") for i in range(6)],
    categorical=[CategoricalFeature(name="city", vocabulary=list("abcde")),
                 CategoricalFeature(name="device", vocabulary=["ios", "android"])],
    domain=DomainSpec(column="city", values=["a", "b", "c"]))
NUMERIC_ONLY = InputSchema(numeric=[NumericFeature(name=f"x{i}") for i in range(6)])
#: the "edge" variant's schema for topologies that read the domain: numeric features plus a
#: one-domain column
ONE_DOMAIN = InputSchema(numeric=[NumericFeature(name=f"x{i}") for i in range(6)],
                         categorical=[CategoricalFeature(name="site", vocabulary=["web"])],
                         domain=DomainSpec(column="site", values=["web"]))
TASKS = [TaskSpec(name="click"), TaskSpec(name="purchase"),
         TaskSpec(name="watch_time", type="regression")]
TASK_NAMES = [t.name for t in TASKS]
ESMM_TASKS = [TaskSpec(name="click"), TaskSpec(name="cvr"),
              TaskSpec(name="watch_time", type="regression"),
              TaskSpec(name="ctcvr", product_of=["click", "cvr"])]

#: architecture variants the structural tests run over ("schema" picks the input schema)
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "wide": dict(activation="gelu", dropout=0.1, gate_kind="mlp", gate_units=[8],
                 gate_temperature=2.0, expert_units=[16, 8], bottom_units=[16, 8],
                 tower_units=[8], embedding_dim=4, levels=3, num_shared_experts=2,
                 num_task_experts=2, snr={"layers": 3, "subnetworks": 2},
                 normalization="batch"),
    "edge": dict(schema=NUMERIC_ONLY, num_shared_experts=1, num_task_experts=0, levels=2,
                 expert_units=[8], bottom_units=[8], tower_units=[],
                 snr={"layers": 1, "subnetworks": 1}, normalization="layer",
                 cross_stitch={"share_embeddings": True}),
}
#: so the default suite exercises PLE's inner levels (levels=1 is CGC, tested separately)
DEFAULT_EXTRA: dict[str, dict[str, Any]] = {"ple": {"levels": 2}}


def suite_sequence(tasks: list[TaskSpec]) -> list[str] | None:
    """The conversion sequence the suite gives every model: its plain binary tasks in order."""
    steps = [t.name for t in tasks if t.type == "binary" and not t.product_of]
    return steps if len(steps) >= 2 else None


def make_model(topology: str, tasks: list[TaskSpec] | None = None,
               schema: InputSchema | None = None, seed: int = 0, **overrides: Any) -> MTLModel:
    torch.manual_seed(seed)
    tasks = tasks or TASKS
    overrides.setdefault("sequence", suite_sequence(tasks))
    return build_model(ModelConfig(topology=topology, inputs=schema or SCHEMA, tasks=tasks,
                                   **overrides))


def make_variant(topology: str, variant: str, tasks: list[TaskSpec] | None = None
                 ) -> tuple[MTLModel, InputSchema]:
    overrides = dict(VARIANTS[variant])
    schema = overrides.pop("schema", SCHEMA)
    if schema is NUMERIC_ONLY and "domains" in get_topology(topology).job_fields:
        schema = ONE_DOMAIN
    if variant == "default":
        overrides.update(DEFAULT_EXTRA.get(topology, {}))
    return make_model(topology, tasks, schema, **overrides), schema


def random_batch(schema: InputSchema, rows: int, seed: int = 0
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Standard-normal numeric features; category indices including 0 (out of vocabulary)."""
    gen = torch.Generator().manual_seed(seed)
    numeric = torch.randn(rows, len(schema.numeric), generator=gen)
    columns = [torch.randint(0, f.cardinality, (rows,), generator=gen)
               for f in schema.categorical]
    categorical = (torch.stack(columns, dim=1) if columns
                   else torch.zeros(rows, 0, dtype=torch.long))
    return numeric, categorical


def random_labels(tasks: list[TaskSpec], rows: int, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed + 100)
    return {t.name: (torch.randint(0, 2, (rows,), generator=gen).float() if t.type == "binary"
                     else torch.randn(rows, generator=gen)) for t in tasks}


def task_losses(outputs: dict[str, torch.Tensor], labels: dict[str, torch.Tensor],
                tasks: list[TaskSpec]) -> dict[str, torch.Tensor]:
    return {t.name: (F.binary_cross_entropy_with_logits(outputs[t.name], labels[t.name])
                     if t.type == "binary" else F.mse_loss(outputs[t.name], labels[t.name]))
            for t in tasks}


def synthetic_two_task(rows: int, seed: int = 0
                       ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """A nonlinear regression task and two binary tasks on shared features, the second (a
    purchase) only where the first (a click) is 1: they depend on feature interactions and on
    a categorical column, so a linear model cannot fit them."""
    numeric, categorical = random_batch(SCHEMA, rows, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    city = torch.randn(SCHEMA.categorical[0].cardinality, generator=gen)
    device = torch.randn(SCHEMA.categorical[1].cardinality, generator=gen)
    x = numeric
    watch = (torch.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * city[categorical[:, 0]]
             + 0.1 * torch.randn(rows, generator=gen))
    watch = (watch - watch.mean()) / watch.std()
    logit = 3 * (x[:, 0] * x[:, 3] + torch.cos(x[:, 1]) - 0.5
                 + device[categorical[:, 1]] - device.mean())
    click = (logit + 0.3 * torch.randn(rows, generator=gen) > 0).float()
    # a purchase needs a click (a conversion sequence)
    purchase = click * (x[:, 4] + 0.5 * x[:, 0] > 0.3).float()
    return numeric, categorical, {"click": click, "purchase": purchase, "watch_time": watch}


def mlp_params(in_dim: int, units: list[int]) -> int:
    total = 0
    for width in units:
        total += in_dim * width + width
        in_dim = width
    return total


#: tiny models: one intra-op thread (more only add contention on shared cores), restored after
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- the suite over every registered topology ------------------------------------------------

def test_registry_has_the_built_in_topologies() -> None:
    assert set(TOPOLOGIES) >= {"single_task", "shared_bottom", "omoe", "mmoe", "cgc", "ple",
                               "snr_trans", "snr_avg", "cross_stitch"}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_forward_shapes_and_keys(topology: str, variant: str) -> None:
    model, schema = make_variant(topology, variant)
    numeric, categorical = random_batch(schema, 7)
    for training in (True, False):
        model.train(training)
        outputs, shared = model.forward_shared(numeric, categorical)
        assert list(outputs) == TASK_NAMES
        for value in outputs.values():
            assert value.shape == (7,) and value.dtype == torch.float32
            assert torch.isfinite(value).all()
        assert (shared is None) == (topology == "single_task")
        if shared is not None:
            assert shared.shape[0] == 7 and shared.requires_grad
    assert isinstance(model, MTLModel) and model.topology_name == topology
    assert model.num_parameters() == sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_gradients_reach_every_parameter(topology: str, variant: str) -> None:
    model, schema = make_variant(topology, variant)
    model.train()
    numeric, categorical = random_batch(schema, 256, seed=1)
    losses = task_losses(model(numeric, categorical), random_labels(TASKS, 256), TASKS)
    sum(losses.values()).backward()  # task losses only: SNR gates must get gradient from them
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    zero = [name for name, p in model.named_parameters()
            if p.grad is not None and not p.grad.abs().sum() > 0]
    assert not missing and not zero, f"no gradient: {missing}, all-zero gradient: {zero}"


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_eval_is_deterministic(topology: str, variant: str) -> None:
    model, schema = make_variant(topology, variant)
    model.eval()
    numeric, categorical = random_batch(schema, 32, seed=2)
    with torch.no_grad():
        first, second = model(numeric, categorical), model(numeric, categorical)
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch 2.13 deprecates jit.trace
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_torchscript_trace_matches_eager(topology: str, variant: str) -> None:
    model, schema = make_variant(topology, variant, tasks=ESMM_TASKS)
    model.eval()
    traced = torch.jit.trace(model, random_batch(schema, 8, seed=3), strict=False)
    numeric, categorical = random_batch(schema, 13, seed=4)  # another batch size
    with torch.no_grad():
        eager, scripted = model(numeric, categorical), traced(numeric, categorical)
    assert list(scripted) == list(eager)
    for name in eager:
        torch.testing.assert_close(scripted[name], eager[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_shared_parameters_are_those_several_tasks_reach(topology: str, variant: str) -> None:
    """shared_parameters() is exactly the set of parameters that more than one task's output
    has a nonzero gradient for (ESMM factor towers included)."""
    model, schema = make_variant(topology, variant, tasks=ESMM_TASKS)
    model.eval()
    params = list(model.parameters())
    outputs, shared_rep = model.forward_shared(*random_batch(schema, 16, seed=5))
    reach = {id(p): 0 for p in params}
    for name, output in outputs.items():
        grads = torch.autograd.grad(output.sum(), params, retain_graph=True, allow_unused=True)
        for p, g in zip(params, grads, strict=True):
            # nonzero, not merely "not None": slices of one batched expert tensor are connected
            # in the graph to every task but get exact zeros from the tasks that do not use them
            reach[id(p)] += g is not None and bool(g.abs().sum() > 0)
        if shared_rep is not None and name != "ctcvr":
            assert torch.autograd.grad(output.sum(), shared_rep, retain_graph=True,
                                       allow_unused=True)[0] is not None, name
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(reach.values()), [names[i] for i, c in reach.items() if c == 0]
    expected = {names[i] for i, c in reach.items() if c > 1}
    assert {names[id(p)] for p in model.shared_parameters()} == expected
    last = {names[id(p)] for p in model.last_shared_parameters()}
    assert last <= expected and (bool(last) == (topology != "single_task"))


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_training_cuts_the_loss(topology: str) -> None:
    torch.manual_seed(0)
    numeric, categorical, labels = synthetic_two_task(3000)
    model = make_model(topology, **DEFAULT_EXTRA.get(topology, {}))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    def full_loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(sum(task_losses(model(numeric, categorical), labels, TASKS).values()))

    initial = full_loss()
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(200):
        rows = torch.randint(0, len(numeric), (256,), generator=gen)
        loss = sum(task_losses(model(numeric[rows], categorical[rows]),
                               {k: v[rows] for k, v in labels.items()}, TASKS).values())
        penalty = model.penalty(TrainConfig(l0_lambda=1e-4))  # each topology's regulariser
        if penalty is not None:
            loss = loss + penalty
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    final = full_loss()
    assert final < 0.6 * initial, (initial, final)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_esmm_product_probability_is_the_product(topology: str) -> None:
    model = make_model(topology, tasks=ESMM_TASKS, **DEFAULT_EXTRA.get(topology, {}))
    model.eval()
    with torch.no_grad():
        out = model(*random_batch(SCHEMA, 64, seed=6))
    assert list(out) == ["click", "cvr", "watch_time", "ctcvr"]
    expected = torch.sigmoid(out["click"].double()) * torch.sigmoid(out["cvr"].double())
    torch.testing.assert_close(torch.sigmoid(out["ctcvr"].double()), expected, rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_gate_weights_are_softmax_over_the_experts_each_task_sees(topology: str) -> None:
    overrides = dict(num_shared_experts=3, num_task_experts=2, levels=2)
    model = make_model(topology, gate_kind="mlp", gate_temperature=0.5, **overrides)
    model.eval()
    weights = model.gate_weights(*random_batch(SCHEMA, 20, seed=7))
    if topology not in GATED:
        assert weights == {}
        return
    assert list(weights) == TASK_NAMES
    width = 3 + model.config.params.task_experts()  # CGC/PLE gates also see 2 own experts
    if topology == "adatt":  # every task's gate fuses all experts: 2 per task + 3 shared
        width = 2 * len(TASKS) + 3
    for w in weights.values():
        assert w.shape == (20, width) and (w >= 0).all()
        torch.testing.assert_close(w.sum(dim=1), torch.ones(20))
    if topology != "omoe":  # one gate per task: the tasks' weights differ
        assert not torch.allclose(weights["click"], weights["watch_time"])


# --- parameter counts in closed form -----------------------------------------------------------

def input_dim_and_embedding_params(schema: InputSchema, embedding_dim: int) -> tuple[int, int]:
    embeddings = sum(f.cardinality for f in schema.categorical) * embedding_dim
    return len(schema.numeric) + len(schema.categorical) * embedding_dim, embeddings


def tower_params(in_dim: int, units: list[int], num_tasks: int) -> int:
    return num_tasks * (mlp_params(in_dim, units) + (units[-1] if units else in_dim) + 1)


def gate_params(in_dim: int, num_experts: int, kind: str, units: list[int]) -> int:
    if num_experts == 1:
        return 0
    if kind == "linear":
        return in_dim * num_experts + num_experts
    return mlp_params(in_dim, units) + units[-1] * num_experts + num_experts


@pytest.mark.parametrize("gate_kind", ["linear", "mlp"])
def test_mmoe_parameter_count_closed_form(gate_kind: str) -> None:
    experts, expert_units, towers, emb, gate_units = 3, [16, 8], [4], 5, [6]
    model = make_model("mmoe", num_shared_experts=experts, expert_units=expert_units,
                       tower_units=towers, embedding_dim=emb, gate_kind=gate_kind,
                       gate_units=gate_units)
    in_dim, embeddings = input_dim_and_embedding_params(SCHEMA, emb)
    tasks = len(TASKS)
    expected = (embeddings + experts * mlp_params(in_dim, expert_units)
                + tasks * gate_params(in_dim, experts, gate_kind, gate_units)
                + tower_params(expert_units[-1], towers, tasks))
    assert model.num_parameters() == expected


@pytest.mark.parametrize(("levels", "task_experts", "shared_experts"),
                         [(1, 1, 4), (3, 2, 3), (2, 0, 2), (3, 1, 0)])
def test_ple_parameter_count_closed_form(levels: int, task_experts: int,
                                         shared_experts: int) -> None:
    tasks = [TaskSpec(name=n) for n in ("click", "like", "share")]
    expert_units, towers, emb = [16, 8], [4], 3
    model = make_model("ple", tasks=tasks, levels=levels, num_task_experts=task_experts,
                       num_shared_experts=shared_experts, expert_units=expert_units,
                       tower_units=towers, embedding_dim=emb)
    in_dim, expected = input_dim_and_embedding_params(SCHEMA, emb)
    t = len(tasks)
    total_experts = t * task_experts + shared_experts
    for level in range(levels):
        expected += total_experts * mlp_params(in_dim, expert_units)
        expected += t * gate_params(in_dim, task_experts + shared_experts, "linear", [])
        if level < levels - 1 and shared_experts > 0:  # inner level: the shared gate
            expected += gate_params(in_dim, total_experts, "linear", [])
        in_dim = expert_units[-1]
    expected += tower_params(in_dim, towers, t)
    assert model.num_parameters() == expected


@pytest.mark.parametrize(("task_experts", "shared_experts", "gate_kind"),
                         [(1, 4, "linear"), (2, 0, "mlp"), (0, 3, "linear"), (3, 1, "mlp")])
def test_ple_with_one_level_is_exactly_cgc(task_experts: int, shared_experts: int,
                                           gate_kind: str) -> None:
    sizes = dict(num_task_experts=task_experts, num_shared_experts=shared_experts,
                 gate_kind=gate_kind, levels=1)
    cgc, ple = make_model("cgc", **sizes), make_model("ple", **sizes)
    assert cgc.num_parameters() == ple.num_parameters()
    renamed = {k.replace("extraction.", "levels.0."): v for k, v in cgc.state_dict().items()}
    ple.load_state_dict(renamed, strict=True)
    cgc.eval(), ple.eval()
    batch = random_batch(SCHEMA, 16, seed=8)
    with torch.no_grad():
        a, b = cgc(*batch), ple(*batch)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("layers", [1, 3])
def test_snr_trans_adds_one_matrix_per_connection(layers: int) -> None:
    snr = {"layers": layers, "subnetworks": 3}
    trans, avg = make_model("snr_trans", snr=snr), make_model("snr_avg", snr=snr)
    connections = (layers - 1) * 3 * 3 + len(TASKS) * 3
    dim = cast(SNRParams, trans.config.params).expert_units[-1]
    assert trans.num_parameters() - avg.num_parameters() == connections * dim * dim
    log_alphas = [p for n, p in avg.named_parameters() if n.endswith("log_alpha")]
    assert sum(p.numel() for p in log_alphas) == connections


# --- SNR hard-concrete gates ----------------------------------------------------------------------

def _gates(model: MTLModel) -> list[HardConcreteGates]:
    return [m for m in model.modules() if isinstance(m, HardConcreteGates)]


@pytest.mark.parametrize("topology", SNR)
def test_snr_eval_gates_are_exactly_clipped(topology: str) -> None:
    model = make_model(topology)
    like = torch.zeros(5, 1)
    for value, expected in ((50.0, 1.0), (-50.0, 0.0)):
        for gate in _gates(model):
            with torch.no_grad():
                gate.log_alpha.fill_(value)
            for training in (False, True):
                gate.train(training)
                z = gate(like)
                assert z.shape == (5, *gate.log_alpha.shape)
                assert (z == expected).all()
            assert (gate.deterministic() == expected).all()
    gate = _gates(model)[0]
    with torch.no_grad():
        gate.log_alpha.fill_(0.0)  # sigmoid(0) * 1.2 - 0.1 = 0.5, inside (0, 1): not clipped
    torch.testing.assert_close(gate.deterministic(), torch.full_like(gate.log_alpha, 0.5))

    # every route into the towers closed: predictions no longer depend on the input
    model.eval()
    with torch.no_grad():
        for route in model.task_routes:
            route.gates.log_alpha.fill_(-50.0)
        a = model(*random_batch(SCHEMA, 8, seed=9))
        b = model(*random_batch(SCHEMA, 8, seed=10))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("transform", [True, False])
def test_gated_connection_train_and_eval_paths_agree(transform: bool) -> None:
    """Training samples z per row, evaluation folds the deterministic z into the weights; with
    z pinned to exact 0s and 1s both must route identically (SNR-Trans / SNR-Aver)."""
    torch.manual_seed(0)
    connection = GatedConnection(3, 2, 4, transform, SNRParams())
    with torch.no_grad():
        connection.gates.log_alpha.copy_(torch.tensor([[50.0, -50.0], [-50.0, 50.0],
                                                       [50.0, 50.0]]))
    hidden = torch.randn(6, 3, 4)
    routed = connection.train()(hidden)
    torch.testing.assert_close(routed, connection.eval()(hidden))
    if transform:
        w = connection.weight.detach()
        expected0 = hidden[:, 0] @ w[0, 0] + hidden[:, 2] @ w[2, 0]
    else:
        expected0 = hidden[:, 0] + hidden[:, 2]
    torch.testing.assert_close(routed[:, 0], expected0)


@pytest.mark.parametrize("topology", SNR)
def test_l0_penalty_is_the_expected_l0_with_gradients(topology: str) -> None:
    model = make_model(topology, snr={"layers": 2, "subnetworks": 3, "beta": 0.5})
    gates = _gates(model)
    with torch.no_grad():
        for i, gate in enumerate(gates):
            gate.log_alpha.copy_(torch.linspace(-3, 3, gate.log_alpha.numel()).view_as(
                gate.log_alpha) + i)
    penalty = model.l0_penalty()
    assert penalty is not None and penalty.dim() == 0
    shift = 0.5 * math.log(0.1 / 1.1)
    alphas = [a for g in gates for a in g.log_alpha.detach().double().flatten().tolist()]
    # the expected L0 norm divided by the number of gates: the expected share of open gates
    expected = sum(1 / (1 + math.exp(-(a - shift))) for a in alphas) / len(alphas)
    assert float(penalty.detach()) == pytest.approx(expected, rel=1e-5)
    penalty.backward()
    for gate in gates:
        assert gate.log_alpha.grad is not None and (gate.log_alpha.grad > 0).all()


@pytest.mark.parametrize("topology", [t for t in TOPOLOGIES if t not in SNR])
def test_other_topologies_have_no_l0_penalty(topology: str) -> None:
    assert make_model(topology).l0_penalty() is None


def test_hard_concrete_samples_follow_the_stretched_distribution() -> None:
    """P(z = 0) = sigmoid(-beta log 11 - log_alpha), P(z = 1) = sigmoid(log_alpha - beta log
    11) for gamma=-0.1, zeta=1.1 (Louizos et al. 2018), and 0 < z < 1 otherwise."""
    snr = SNRParams()
    gate = HardConcreteGates(1, 1, snr)
    with torch.no_grad():
        gate.log_alpha.fill_(0.3)
    gate.train()
    torch.manual_seed(0)
    z = gate(torch.zeros(200_000, 1)).flatten()
    shift = snr.beta * math.log(11)
    assert float((z == 0).float().mean()) == pytest.approx(1 / (1 + math.exp(shift + 0.3)),
                                                           abs=0.006)
    assert float((z == 1).float().mean()) == pytest.approx(1 / (1 + math.exp(shift - 0.3)),
                                                           abs=0.006)
    assert ((z >= 0) & (z <= 1)).all()


@pytest.mark.parametrize("gate_kind", ["linear", "mlp"])
def test_ml_mmoe_with_one_level_is_exactly_mmoe(gate_kind: str) -> None:
    """ML-MMoE (the PLE paper's stacked-MMoE baseline) with one level is MMoE: same parameter
    count and, with MMoE's weights loaded, the same predictions."""
    sizes = dict(num_shared_experts=3, expert_units=[16, 8], gate_kind=gate_kind,
                 gate_units=[6])
    mmoe, ml_mmoe = make_model("mmoe", **sizes), make_model("ml_mmoe", levels=1, **sizes)
    assert ml_mmoe.num_parameters() == mmoe.num_parameters()
    renamed = {k.replace("experts.", "experts.0.", 1).replace("gates.", "gates.0.", 1)
               if k.startswith(("experts.", "gates.")) else k: v
               for k, v in mmoe.state_dict().items()}
    ml_mmoe.load_state_dict(renamed, strict=True)
    mmoe.eval(), ml_mmoe.eval()
    batch = random_batch(SCHEMA, 16, seed=9)
    with torch.no_grad():
        a, b = mmoe(*batch), ml_mmoe(*batch)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("levels", [2, 3])
def test_ml_mmoe_parameter_count_closed_form(levels: int) -> None:
    """Level l has E experts; inner levels have E gates (one per next-level expert), the last
    one gate per task; every gate reads the input features."""
    experts, expert_units, towers, emb = 3, [16, 8], [4], 5
    model = make_model("ml_mmoe", levels=levels, num_shared_experts=experts,
                       expert_units=expert_units, tower_units=towers, embedding_dim=emb)
    features, expected = input_dim_and_embedding_params(SCHEMA, emb)
    in_dim, tasks = features, len(TASKS)
    for level in range(levels):
        consumers = experts if level < levels - 1 else tasks
        expected += experts * mlp_params(in_dim, expert_units)
        expected += consumers * gate_params(features, experts, "linear", [])
        in_dim = expert_units[-1]
    expected += tower_params(in_dim, towers, tasks)
    assert model.num_parameters() == expected


# --- errors, ESMM numerics, building blocks ----------------------------------------------------

def test_unknown_topology_lists_the_valid_ones() -> None:
    with pytest.raises(KeyError) as from_registry:
        get_topology("transformer")
    config = make_model("mmoe").config.model_copy(update={"topology": "transformer"})
    with pytest.raises(KeyError) as from_build:
        build_model(config)
    with pytest.raises(ValidationError) as from_config:
        ArchitectureConfig(topology="transformer")
    for error in (from_registry, from_build, from_config):
        message = str(error.value)
        assert "transformer" in message and all(t in message for t in TOPOLOGIES)


def test_product_logit_is_exact_and_finite_for_extreme_logits() -> None:
    values = [-100.0, -30.0, -3.0, 0.0, 2.5, 30.0, 100.0]
    a, b = torch.meshgrid(torch.tensor(values), torch.tensor(values), indexing="ij")
    a, b = a.flatten().requires_grad_(), b.flatten().requires_grad_()
    logit = product_logit(a, b)
    logit.sum().backward()
    assert torch.isfinite(logit).all() and torch.isfinite(a.grad).all()
    assert torch.isfinite(b.grad).all()
    a64, b64 = a.detach().double(), b.detach().double()
    # reference: log p - log(1 - p) in float64, with log p and log(1 - p) from logsigmoid
    log_p = F.logsigmoid(a64) + F.logsigmoid(b64)
    log_1mp = torch.where(log_p > -math.log(2), torch.log(-torch.expm1(log_p)),
                          torch.log1p(-torch.exp(log_p)))
    torch.testing.assert_close(logit.detach().double(), log_p - log_1mp, rtol=1e-6, atol=1e-4)
    moderate = (a64.abs() <= 3) & (b64.abs() <= 3)
    p = torch.sigmoid(a64) * torch.sigmoid(b64)
    torch.testing.assert_close(torch.sigmoid(logit.detach().double())[moderate], p[moderate])


@pytest.mark.parametrize("shared_input", [True, False])
def test_batched_experts_equal_a_loop_over_per_expert_mlps(shared_input: bool) -> None:
    torch.manual_seed(0)
    experts = Experts(3, 5, [4, 2], "tanh")
    x = torch.randn(7, 5) if shared_input else torch.randn(7, 3, 5)
    out = experts(x)
    assert out.shape == (7, 3, 2)
    for e in range(3):
        h = x if shared_input else x[:, e]
        for weight, bias in zip(experts.weights, experts.biases, strict=True):
            h = torch.tanh(h @ weight[e] + bias[e])
        torch.testing.assert_close(out[:, e], h)


def test_cross_stitch_starts_near_identity() -> None:
    assert torch.equal(initial_stitch(1), torch.ones(1, 1))
    three = initial_stitch(3)
    assert torch.allclose(three.diagonal(), torch.full((3,), 0.9))
    assert torch.allclose(three.sum(dim=1), torch.ones(3))
    assert torch.allclose(three[0, 1], torch.tensor(0.05))
    model = make_model("cross_stitch", bottom_units=[8, 8])
    assert len(model.stitches) == 2
    assert all(torch.equal(alpha, initial_stitch(len(TASKS))) for alpha in model.stitches)


# --- a multiclass task in every topology -----------------------------------------------------

MULTICLASS_TASKS = [TaskSpec(name="click"), TaskSpec(name="purchase"),
                    TaskSpec(name="segment", type="multiclass")]
MULTICLASS_SCHEMA = SCHEMA.model_copy(update={"classes": [
    ClassLabels(task="segment", classes=["gold", "silver", "bronze", "none"])]})


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch 2.13 deprecates jit.trace
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_a_multiclass_task_gets_one_logit_per_class_with_gradient_and_tracing(
        topology: str) -> None:
    model = make_model(topology, MULTICLASS_TASKS, MULTICLASS_SCHEMA, seed=5)
    model.train()
    numeric, categorical = random_batch(MULTICLASS_SCHEMA, 64, seed=6)
    outputs = model(numeric, categorical)
    assert outputs["click"].shape == (64,) and outputs["segment"].shape == (64, 4)
    classes = torch.randint(0, 4, (64,), generator=torch.Generator().manual_seed(7))
    loss = F.binary_cross_entropy_with_logits(outputs["click"], (classes > 1).float()) + \
        F.binary_cross_entropy_with_logits(outputs["purchase"], (classes > 2).float()) + \
        F.cross_entropy(outputs["segment"], classes)
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient: {missing}"
    model.eval()
    traced = torch.jit.trace(model, random_batch(MULTICLASS_SCHEMA, 8, seed=8), strict=False)
    batch = random_batch(MULTICLASS_SCHEMA, 13, seed=9)
    with torch.no_grad():
        eager, scripted = model(*batch), traced(*batch)
    assert scripted["segment"].shape == (13, 4)
    torch.testing.assert_close(scripted["segment"], eager["segment"])


def test_a_multiclass_task_without_its_classes_in_the_schema_is_refused() -> None:
    with pytest.raises(ValueError, match="multiclass task 'segment' needs its classes"):
        make_model("mmoe", MULTICLASS_TASKS, SCHEMA)
