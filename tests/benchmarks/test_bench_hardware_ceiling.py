"""benchmarks.hardware_ceiling: FLOP counts against the closed form, and the --quick run."""

from __future__ import annotations

import csv

import pytest

from benchmarks import hardware_ceiling
from benchmarks.common import synthetic_dense
from benchmarks.runs import ModelSizes, automtl_model


def mmoe_forward_flops_per_row(d: int, experts: int, units: int, tower: int, tasks: int) -> int:
    """Matrix-product FLOPs of one row through MMoE (2 per multiply-add)."""
    expert_layer = 2 * d * experts * units          # one [d] x [d, E*units] product
    gates = tasks * 2 * d * experts                 # a linear gate per task
    mixes = tasks * 2 * experts * units             # [E] x [E, units] per task
    towers = tasks * (2 * units * tower + 2 * tower)  # hidden layer, then one output
    return expert_layer + gates + mixes + towers


def test_flops_per_row_counts_the_mmoe_forward_exactly_and_backward_on_top():
    sizes = ModelSizes()
    data = synthetic_dense(400, features=20).data
    model = automtl_model(data, "mmoe", sizes)
    forward, both = hardware_ceiling.flops_per_row(model, data.train.slice(0, 64))
    expected = mmoe_forward_flops_per_row(20, sizes.mmoe_experts, sizes.expert_units,
                                          sizes.tower_units, 2)
    assert forward == expected
    # backward: every product again for the weight gradient and again for the input
    # gradient, except the input gradient of the layers that read the features (experts'
    # first layer and the gates), which do not require grad
    first_layers = 2 * 20 * sizes.mmoe_experts * sizes.expert_units + 2 * 2 * 20 * \
        sizes.mmoe_experts
    assert both == 3 * expected - first_layers
    assert all(p.grad is None for p in model.parameters())  # counting left no gradients


def test_matmul_flops_per_s_is_positive_and_finite():
    import torch

    rate = hardware_ceiling.matmul_flops_per_s(64, 32, 16, torch.device("cpu"), repeats=1,
                                               min_seconds=0.01)
    assert 0 < rate < float("inf")


@pytest.mark.slow
def test_quick_run_writes_one_row_per_thread_count_and_batch(tmp_path):
    # 6,000 rows (4,800 train: one bare step at batch 4096) and a 512^3 peak matmul are all the
    # table's checks need, instead of --quick's 12,000 rows and 1024^3 matmul
    rows = hardware_ceiling.main(["--quick", "--rows", "6000", "--square", "512",
                                  "--out", str(tmp_path)])
    counts = sorted({r["threads"] for r in rows})
    assert counts[0] == 1 and len(rows) == 2 * len(counts)
    for row in rows:
        assert row["MFLOP/row fwd+bwd"] > row["MFLOP/row fwd"] > 0
        assert row["Trainer rows/s"] > 0 and row["peak matmul GFLOP/s"] > 0
        expected = row["Trainer GFLOP/s"] / row["peak matmul GFLOP/s"] * 100
        assert row["Trainer % of peak matmul"] == pytest.approx(expected, rel=0.05, abs=0.2)
    with (tmp_path / "hardware_ceiling.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)
    assert "Machine: " in (tmp_path / "hardware_ceiling.md").read_text()
