"""Paper fidelity of the models (issue 15): SNR pruning, normalisation, cross-stitch columns.

The SNR pruning test is the issue's: on synthetic data with a budget of a few epochs, a
trained ``snr_trans`` closes at least a quarter of its connections within 0.01 AUC of
``l0_lambda = 0``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from automtl.config import (
    ArchitectureConfig,
    CategoricalFeature,
    InputSchema,
    ModelConfig,
    NumericFeature,
    TaskSpec,
    TrainConfig,
    WeightingConfig,
)
from automtl.data import TabularDataset, make_synthetic, synthetic_tasks
from automtl.models import MTLModel, build_model
from automtl.models.hard_concrete import GatedConnection, HardConcreteGates
from automtl.models.layers import Experts, RowSafeBatchNorm1d
from automtl.models.params import CrossStitchParams, SNRParams
from automtl.training import Trainer
from automtl.training.trainer import build_optimizer
from automtl.weighting import build_weighting

SCHEMA = InputSchema(
    numeric=[NumericFeature(name=f"x{i}") for i in range(4)],
    categorical=[CategoricalFeature(name="city", vocabulary=list("abcde"))])
TASKS = [TaskSpec(name="click"), TaskSpec(name="watch_time", type="regression")]


def make_model(topology: str, **overrides: Any) -> MTLModel:
    torch.manual_seed(0)
    return build_model(ModelConfig(topology=topology, inputs=SCHEMA, tasks=TASKS, **overrides))


BINARY = synthetic_tasks(binary=True)


def binary_data(rows: int, features: int, seed: int) -> TabularDataset:
    """The MMoE recipe with two binary tasks (labels above their median), split 80/10/10."""
    frame = make_synthetic(rows=rows, features=features, correlation=0.5, seed=seed,
                           binary=True)
    return TabularDataset(frame, BINARY, valid_fraction=0.1, test_fraction=0.1, seed=seed)


def gates_of(model: MTLModel) -> list[HardConcreteGates]:
    return [m for m in model.modules() if isinstance(m, HardConcreteGates)]


# --- SNR ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [0.5, 0.2, 0.9])
def test_log_alpha_starts_from_the_configured_drop_rate(rate: float) -> None:
    model = make_model("snr_trans", init_drop_rate=rate)
    values = torch.cat([g.log_alpha.detach().flatten() for g in gates_of(model)])
    assert float(values.mean()) == pytest.approx(math.log((1 - rate) / rate), abs=0.01)
    assert float(values.std()) < 0.05


def test_sparsity_and_effective_parameters_count_closed_connections() -> None:
    model = make_model("snr_trans", layers=2, subnetworks=3, expert_units=[8])
    total = model.num_parameters()
    gate_params = sum(g.log_alpha.numel() for g in gates_of(model))
    assert model.sparsity() == 0.0
    assert model.effective_parameters() == total - gate_params
    # 9 gates between the layers, 3 per task route: 15 connections
    connection = model.connections[0]
    assert isinstance(connection, GatedConnection)
    with torch.no_grad():
        connection.gates.log_alpha[0, :].fill_(-10.0)  # sub-network 0 of layer 0 feeds nothing
        connection.gates.log_alpha[1, 0].fill_(-10.0)
    assert model.sparsity() == pytest.approx(4 / 15)
    first_layer = model.subnetworks[0]
    assert isinstance(first_layer, Experts)
    dead_subnetwork = first_layer.parameters_per_expert()
    assert model.effective_parameters() == total - gate_params - 4 * 8 * 8 - dead_subnetwork
    # closing every route into the towers makes the whole last layer dead too
    with torch.no_grad():
        for route in model.task_routes:
            route.gates.log_alpha.fill_(-10.0)
    assert model.sparsity() == pytest.approx(10 / 15)
    last_layer = model.subnetworks[1]
    assert isinstance(last_layer, Experts)
    assert model.effective_parameters() == (total - gate_params - 10 * 8 * 8 - dead_subnetwork
                                            - 3 * last_layer.parameters_per_expert())


def test_other_topologies_report_no_sparsity_and_all_parameters() -> None:
    model = make_model("mmoe")
    assert model.sparsity() is None and model.gate_parameters() == []
    assert model.effective_parameters() == model.num_parameters()


def test_gates_get_their_own_learning_rate_without_weight_decay() -> None:
    model = make_model("snr_avg", gate_lr=0.25)
    config = TrainConfig(lr=1e-3, weight_decay=0.01)
    optimizer = build_optimizer(config, list(model.parameters()), [], model.gate_parameters(),
                                model.gate_lr())
    gate_ids = {id(p) for p in model.gate_parameters()}
    main, gates = optimizer.param_groups
    assert {id(p) for p in gates["params"]} == gate_ids
    assert gates["lr"] == 0.25 and gates["weight_decay"] == 0.0
    assert main["lr"] == 1e-3 and not gate_ids & {id(p) for p in main["params"]}
    default = make_model("snr_avg", gate_lr=None)
    optimizer = build_optimizer(config, list(default.parameters()), [],
                                default.gate_parameters(), default.gate_lr())
    assert optimizer.param_groups[1]["lr"] == 1e-3


def _snr_run(data: TabularDataset, l0_lambda: float, seed: int) -> tuple[float, MTLModel]:
    torch.manual_seed(seed)
    architecture = ArchitectureConfig(topology="snr_trans", expert_units=[32], tower_units=[16])
    model = build_model(ModelConfig.from_parts(architecture, data.schema, BINARY))
    config = TrainConfig(lr=3e-3, batch_size=256, epochs=3, l0_lambda=l0_lambda,
                         early_stopping_patience=0, seed=seed)
    trainer = Trainer(model, build_weighting(WeightingConfig(), BINARY), config, "cpu")
    result = trainer.fit(data.train, data.valid, BINARY)
    auc = sum(m["auc"] for m in result.valid_metrics.values()) / len(result.valid_metrics)
    return auc, model


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.usefixtures("one_torch_thread")
def test_snr_trans_prunes_a_quarter_of_its_connections_at_no_quality_loss(seed: int) -> None:
    data = binary_data(20_000, features=20, seed=seed)
    reference_auc, dense = _snr_run(data, 0.0, seed)
    assert dense.sparsity() == 0.0
    auc, pruned = _snr_run(data, 0.3, seed)  # inside the snr preset's searched range
    sparsity = pruned.sparsity()
    assert sparsity is not None and sparsity >= 0.25
    assert auc >= reference_auc - 0.01
    assert pruned.effective_parameters() < dense.effective_parameters()


def test_the_l0_weight_ramps_up_over_the_warm_up() -> None:
    """One SGD step at the gates' lr: the runs with and without warm-up see the same task
    gradient, so their log_alpha differ by exactly the penalty term lost to the ramp."""
    data = binary_data(400, features=4, seed=0)  # 320 training rows: one batch per epoch
    moved, before = {}, None
    gate_lr, l0_lambda, warmup = 0.5, 10.0, 100.0
    for epochs in (0.0, warmup):
        torch.manual_seed(0)
        architecture = ArchitectureConfig(
            topology="snr_avg", tower_units=[],
            params=SNRParams(expert_units=[4], l0_warmup_epochs=epochs, gate_lr=gate_lr))
        model = build_model(ModelConfig.from_parts(architecture, data.schema, BINARY))
        before = torch.cat([g.log_alpha.detach().flatten().clone() for g in gates_of(model)])
        config = TrainConfig(optimizer="sgd", lr=1e-3, batch_size=400, epochs=1,
                             l0_lambda=l0_lambda, early_stopping_patience=0)
        Trainer(model, build_weighting(WeightingConfig(), BINARY), config, "cpu").fit(
            data.train, data.valid, BINARY)
        after = torch.cat([g.log_alpha.detach().flatten() for g in gates_of(model)])
        moved[epochs] = after - before
    assert before is not None
    snr = SNRParams()
    p = torch.sigmoid(before - snr.beta * math.log(-snr.gamma / snr.zeta))
    penalty_grad = p * (1 - p) / before.numel()  # d(mean open probability) / d log_alpha
    ramp = 1.0 / warmup  # first step of a 100-epoch warm-up of one step per epoch
    expected = -gate_lr * l0_lambda * (1.0 - ramp) * penalty_grad
    torch.testing.assert_close(moved[0.0] - moved[warmup], expected, rtol=1e-3, atol=1e-6)


# --- normalisation -----------------------------------------------------------------------------

@pytest.mark.parametrize("normalization", ["batch", "layer"])
def test_normalised_experts_equal_per_expert_mlps_with_their_own_norm(normalization: str
                                                                      ) -> None:
    torch.manual_seed(0)
    experts = Experts(3, 5, [4, 2], "relu", normalization=normalization)
    x = torch.randn(16, 5)
    out = experts(x)
    for e in range(3):
        h = x
        for weight, bias, norm in zip(experts.weights, experts.biases, experts.norms,
                                      strict=True):
            h = h @ weight[e] + bias[e]
            width = h.shape[1]
            if normalization == "batch":
                h = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + 1e-5)
            else:
                h = torch.nn.functional.layer_norm(h, (width,))
                h = h * norm.weight[e] + norm.bias[e]
            h = torch.relu(h)
        torch.testing.assert_close(out[:, e], h, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("topology", ["mmoe", "shared_bottom", "snr_trans", "ple"])
def test_batch_normalization_puts_batchnorm_in_every_hidden_block(topology: str) -> None:
    plain, normed = make_model(topology), make_model(topology, normalization="batch")
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in plain.modules())
    count = sum(isinstance(m, torch.nn.BatchNorm1d) for m in normed.modules())
    towers = len(normed.heads.towers)
    assert count > towers  # the towers' hidden layers and the experts / bottom
    layered = make_model(topology, normalization="layer")
    assert any(isinstance(m, torch.nn.LayerNorm) for m in layered.modules())


def test_a_one_row_training_batch_uses_the_running_statistics() -> None:
    norm = RowSafeBatchNorm1d(3)
    norm.train()
    out = norm(torch.tensor([[1.0, 2.0, 3.0]]))
    torch.testing.assert_close(out, torch.tensor([[1.0, 2.0, 3.0]]) / math.sqrt(1 + 1e-5))
    model = make_model("mmoe", normalization="batch")
    model.train()
    outputs = model(torch.randn(1, 4), torch.zeros(1, 1, dtype=torch.long))
    assert all(torch.isfinite(v).all() for v in outputs.values())


def test_an_unknown_normalization_names_the_field_and_the_valid_values() -> None:
    with pytest.raises(ValidationError) as error:
        ArchitectureConfig(normalization="group")
    assert "normalization" in str(error.value)
    assert all(v in str(error.value) for v in ("none", "batch", "layer"))


# --- cross-stitch ------------------------------------------------------------------------------

def test_cross_stitch_columns_have_their_own_input_layers_by_default() -> None:
    separate = make_model("cross_stitch")
    shared = make_model("cross_stitch", params=CrossStitchParams(share_embeddings=True))
    assert len(separate.inputs) == 2 and len(shared.inputs) == 1
    assert separate.inputs[0].embeddings is not separate.inputs[1].embeddings
    embedding = 6 * 8  # 5 values + out-of-vocabulary, embedding_dim 8
    assert separate.num_parameters() - shared.num_parameters() == embedding
    # each column's first layer reads its own embeddings: before any stitch, column 0's
    # pre-stitch output depends only on its own input layer
    numeric, categorical = torch.randn(6, 4), torch.randint(0, 6, (6, 1))
    separate.eval()
    column = separate.columns[0]
    with torch.no_grad():
        base = column(torch.stack([layer(numeric, categorical) for layer in separate.inputs], 1))
        separate.inputs[1].column_table(0).add_(1.0)
        moved = column(torch.stack([layer(numeric, categorical) for layer in separate.inputs],
                                   1))
    torch.testing.assert_close(moved[:, 0], base[:, 0])
    assert not torch.allclose(moved[:, 1], base[:, 1])


def test_share_embeddings_is_rejected_for_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="share_embedding"):
        ArchitectureConfig(topology="cross_stitch", params={"share_embedding": True})
    with pytest.raises(ValidationError, match="cross_stitch"):  # the previous nested form
        ArchitectureConfig(topology="cross_stitch", cross_stitch={"share_embedding": True})


def test_the_previous_nested_forms_of_the_new_settings_are_converted() -> None:
    """Candidates written before the topologies owned their settings nested SNR's under ``snr``
    and cross-stitch's under ``cross_stitch``; flat ones (the DSL's) land in ``params`` too."""
    stitch = ArchitectureConfig(topology="cross_stitch", cross_stitch={"share_embeddings": True})
    assert stitch.params == CrossStitchParams(share_embeddings=True)
    snr = ArchitectureConfig.model_validate(
        {"topology": "snr_trans", "normalization": "batch", "num_shared_experts": 4,
         "snr": {"layers": 1, "init_drop_rate": 0.2, "gate_lr": None}, "l0_warmup_epochs": 3})
    assert snr.normalization == "batch"
    assert snr.params == SNRParams(layers=1, init_drop_rate=0.2, gate_lr=None,
                                   l0_warmup_epochs=3)
    # another topology ignores both sections, as its model never read them
    mmoe = ArchitectureConfig(topology="mmoe", snr={"layers": 1},
                              cross_stitch={"share_embeddings": True})
    assert "layers" not in mmoe.params.model_dump()
    assert ArchitectureConfig.model_validate(snr.model_dump()) == snr
