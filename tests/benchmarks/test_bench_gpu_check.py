"""benchmarks.gpu_check: exits 0 with a message without CUDA; its measuring parts run on any
device (on the CPU ``amp`` is a no-op), and its searches are valid job specs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from automtl.jobspec import load_job_spec
from benchmarks import gpu_check
from benchmarks.common import synthetic_dense

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason="checks the no-CUDA fallback; this machine has CUDA, so gpu_check "
                           "measures for real (run it by hand)")
def test_without_cuda_it_exits_0_with_a_message_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--quick", "--out",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "CUDA is not available" in done.stdout and "nothing measured" in done.stdout
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason="checks the no-CUDA fallback; this machine has CUDA, so gpu_check "
                           "measures for real (run it by hand)")
def test_main_returns_no_rows_without_cuda(tmp_path, capsys):
    assert gpu_check.main(["--quick", "--out", str(tmp_path)]) == []
    assert "CUDA is not available" in capsys.readouterr().out


def test_the_throughput_rows_measure_both_precisions_of_each_model_and_batch():
    torch.set_num_threads(1)
    data = synthetic_dense(1500, features=8).data
    rows = gpu_check.throughput_rows(data, ["mmoe", "ple"], [256, 512], 2, torch.device("cpu"),
                                     seed=0)
    assert [(r["model"], r["batch"]) for r in rows] == [
        ("mmoe", 256), ("mmoe", 512), ("ple", 256), ("ple", 512)]
    for row in rows:
        assert row["fp32 rows/s"] > 0 and row["bf16 rows/s"] > 0
        assert row["bf16/fp32"] == pytest.approx(row["bf16 rows/s"] / row["fp32 rows/s"],
                                                 rel=0.02)
        assert 0.0 < row["AUC fp32"] <= 1.0
        # amp is a no-op on the CPU: both runs train the same model from the same seed
        if row["model"] and torch.device("cpu").type == "cpu":
            assert row["AUC bf16"] == pytest.approx(row["AUC fp32"], abs=1e-6)


@pytest.mark.parametrize(("gpus", "concurrency"), gpu_check.CARD_SHARES)
def test_each_card_share_is_a_valid_job_spec(gpus, concurrency):
    spec = load_job_spec(gpu_check.search_spec(gpus, concurrency, 16, 2000, 1, seed=0))
    assert spec.resources.gpus_per_trial == gpus
    assert spec.budget.concurrency == concurrency and spec.budget.trials == 16
    # the shares fill exactly one card
    assert gpus * concurrency == pytest.approx(1.0)
