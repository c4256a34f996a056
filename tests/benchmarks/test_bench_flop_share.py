"""benchmarks.flop_share --quick: the interleaved step / matmul FLOP share of MMoE and PLE."""

from __future__ import annotations

import pytest

from benchmarks import flop_share

pytestmark = pytest.mark.slow


def test_each_model_and_dataset_gets_a_share_from_its_own_rates(tmp_path):
    rows = flop_share.main(["--quick", "--out", str(tmp_path)])
    assert {(r["dataset"], r["model"]) for r in rows} == {
        (d, m) for d in ("synthetic", "categorical") for m in ("mmoe", "ple")}
    for row in rows:
        assert row["MFLOP/row fwd+bwd"] > 0
        assert row["step GFLOP/s (median)"] > 0 and row["matmul GFLOP/s (median)"] > 0
        low, high = (float(v) for v in row["% of matmul (min-max)"].split("-"))
        assert low <= row["% of matmul (median)"] <= high
        assert row[">= 50%"] == ("yes" if row["% of matmul (median)"] >= 50 else "no")
    # PLE has more matrix work per row than MMoE at these sizes (two levels of experts)
    flops = {(r["dataset"], r["model"]): r["MFLOP/row fwd+bwd"] for r in rows}
    assert flops[("synthetic", "ple")] > flops[("synthetic", "mmoe")]
    assert "same-shape matmul" in (tmp_path / "flop_share.md").read_text()


def test_a_batch_larger_than_the_training_split_is_an_error_naming_it(tmp_path):
    with pytest.raises(SystemExit, match="--batch"):
        flop_share.main(["--rows", "3000", "--batch", "100000", "--datasets", "synthetic",
                         "--models", "mmoe", "--out", str(tmp_path)])
