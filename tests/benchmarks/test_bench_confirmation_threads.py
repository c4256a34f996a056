"""benchmarks.confirmation_threads --quick: both thread counts timed, the count restored."""

from __future__ import annotations

import pytest
import torch

from benchmarks import confirmation_threads


@pytest.mark.slow
def test_quick_run_times_both_thread_counts_and_restores_torchs(capsys):
    before = torch.get_num_threads()
    result = confirmation_threads.main(["--quick", "--threads", "2"])
    assert torch.get_num_threads() == before
    assert result["one"] > 0 and result["many"] > 0
    assert result["ratio"] == pytest.approx(result["many"] / result["one"])
    assert "1 thread: median" in capsys.readouterr().out
