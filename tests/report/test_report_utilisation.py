"""Expert utilisation: mean gate weight per task and expert over a split."""

from __future__ import annotations

import pytest
import torch

from automtl.config import ArchitectureConfig, InputSchema, ModelConfig, NumericFeature, TaskSpec
from automtl.data.base import SplitTensors
from automtl.models import build_model
from automtl.report.utilisation import expert_utilisation

TASKS = [TaskSpec(name="a"), TaskSpec(name="b")]


def _model(topology: str, **sizes: object) -> torch.nn.Module:
    inputs = InputSchema(numeric=[NumericFeature(name=f"x{i}") for i in range(5)])
    architecture = ArchitectureConfig(topology=topology, expert_units=[8], tower_units=[4],
                                      bottom_units=[8], **sizes)
    torch.manual_seed(0)
    return build_model(ModelConfig.from_parts(architecture, inputs, TASKS))


def _split(rows: int) -> SplitTensors:
    generator = torch.Generator().manual_seed(1)
    return SplitTensors(numeric=torch.randn(rows, 5, generator=generator),
                        categorical=torch.zeros(rows, 0, dtype=torch.long),
                        labels=torch.zeros(rows, 2), mask=torch.ones(rows, 2, dtype=torch.bool),
                        task_names=("a", "b"))


def test_mmoe_utilisation_is_the_mean_gate_weight_over_every_row():
    model = _model("mmoe", num_shared_experts=3)
    split = _split(250)
    usage = expert_utilisation(model, split, batch_rows=64)  # four batches, the last partial
    model.eval()
    with torch.no_grad():
        expected = model.gate_weights(split.numeric, split.categorical)
    assert list(usage) == ["a", "b"]
    for task in ("a", "b"):
        assert len(usage[task]) == 3
        assert usage[task] == pytest.approx(expected[task].mean(dim=0).tolist(), abs=1e-6)
        assert sum(usage[task]) == pytest.approx(1.0, abs=1e-6)


def test_cgc_gates_see_own_and_shared_experts_and_training_mode_is_kept():
    model = _model("cgc", num_shared_experts=2, num_task_experts=1, dropout=0.5)
    model.train()
    usage = expert_utilisation(model, _split(40))
    assert [len(v) for v in usage.values()] == [3, 3]
    assert model.training


def test_models_without_gates_have_no_utilisation():
    assert expert_utilisation(_model("shared_bottom"), _split(10)) == {}


def test_an_empty_split_is_an_error():
    with pytest.raises(ValueError, match="no rows"):
        expert_utilisation(_model("mmoe"), _split(0))
