"""benchmarks.peer_throughput --quick: automtl always, each peer when it is installed."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from benchmarks import peer_throughput
from benchmarks.peers import PEERS, missing_peer

pytestmark = pytest.mark.slow

CONFIGS = 2 * 2 * 2  # datasets x models x batch sizes


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path]:
    out = tmp_path_factory.mktemp("peer_throughput")
    return peer_throughput.main(["--quick", "--out", str(out)]), out


def read_runs(out: Path) -> list[dict[str, str]]:
    with (out / "peer_throughput_runs.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_automtl_trains_every_model_on_both_datasets(quick_run):
    summary, out = quick_run
    assert len(summary) == CONFIGS
    assert {(r["dataset"], r["model"], r["batch"]) for r in summary} == {
        (d, m, b) for d in ("synthetic", "categorical") for m in ("mmoe", "ple")
        for b in (512, 4096)}
    for row in summary:
        assert row["automtl rows/s"] > 0 and math.isfinite(row["automtl rows/s"])
        assert 0.0 < row["AUC automtl"] <= 1.0
        assert row["fit/loop"] == pytest.approx(row["automtl rows/s"]
                                                / row["minimal loop rows/s"], rel=0.02)
        if row["batch"] == 4096:  # the FLOP/s comparison
            assert row["automtl GFLOP/s"] > 0 and row["matmul GFLOP/s"] > 0
            assert row["automtl % of matmul"] == pytest.approx(
                100 * row["automtl GFLOP/s"] / row["matmul GFLOP/s"], rel=0.05, abs=0.2)
        else:
            assert "automtl GFLOP/s" not in row
    text = (out / "peer_throughput.md").read_text()
    assert "Machine: " in text and "torch threads: 1" in text


def test_automtl_runs_are_timed_as_whole_fit_calls_and_sized_as_configured(quick_run):
    runs = [r for r in read_runs(quick_run[1]) if r["tool"] == "automtl"]
    assert len(runs) == CONFIGS
    for run in runs:
        assert float(run["train_s"]) > 0
        # the whole call (one epoch in --quick) takes at least as long as its epoch
        assert 0 < float(run["rows_per_s_best"]) <= float(run["rows_per_s_mean"]) * 1.001
        assert 0.0 < float(run["auc_y1"]) <= 1.0 and 0.0 < float(run["auc_y2"]) <= 1.0
    loops = [r for r in read_runs(quick_run[1]) if r["tool"] == "minimal loop"]
    assert len(loops) == CONFIGS
    sizes = {(r["dataset"], r["model"], r["batch"]): r["parameters"] for r in runs}
    assert {(r["dataset"], r["model"], r["batch"]): r["parameters"] for r in loops} == sizes
    params = {(r["dataset"], r["model"]): int(r["parameters"]) for r in runs}
    # the categorical dataset adds 26 embeddings of 8 (and has fewer numeric inputs)
    assert params[("categorical", "mmoe")] > params[("synthetic", "mmoe")]


@pytest.mark.parametrize("tool", sorted(PEERS))
def test_peer_runs_match_sizes_and_give_ratios(quick_run, tool):
    reason = missing_peer(tool)
    if reason:
        pytest.skip(f"peer part skipped: {reason}")
    summary, out = quick_run
    for row in summary:
        peer = row[f"{tool} rows/s"]
        assert peer > 0 and math.isfinite(peer)
        assert row[f"automtl/{tool}"] == pytest.approx(row["automtl rows/s"] / peer, rel=0.02)
        assert 0.0 < row[f"AUC {tool}"] <= 1.0
        faster = max(PEERS, key=lambda t: row[f"{t} rows/s"]
                     if missing_peer(t) is None else -1.0)
        assert row["faster peer"] == faster
        assert row["automtl/faster peer"] == pytest.approx(
            row["automtl rows/s"] / row[f"{faster} rows/s"], rel=0.02)
        assert row["loop/faster peer"] == pytest.approx(
            row["minimal loop rows/s"] / row[f"{faster} rows/s"], rel=0.02)
        assert row["3x met"] == ("yes" if row["automtl/faster peer"] >= 3 else "no")
        # one thread (the default): the same ratios in rows per CPU second, measured for
        # every tool (the peers per epoch)
        for name in ("automtl", "loop"):
            assert 0 < row[f"{name}/faster peer, CPU time"] < math.inf
    runs = read_runs(out)
    ours = {(r["dataset"], r["model"], r["batch"]): int(r["parameters"])
            for r in runs if r["tool"] == "automtl"}
    for run in (r for r in runs if r["tool"] == tool):
        key = (run["dataset"], run["model"], run["batch"])
        # same architecture: counts differ only by what the library adds (gate biases,
        # BatchNorm), a few percent at most
        assert int(run["parameters"]) == pytest.approx(ours[key], rel=0.03)


def test_an_unknown_peer_is_an_error_naming_the_valid_ones():
    with pytest.raises(ValueError, match="deepctr-torch"):
        missing_peer("keras")
