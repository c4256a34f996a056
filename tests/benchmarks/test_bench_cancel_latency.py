"""benchmarks.cancel_latency --quick: a worker's job and an ``automtl search`` cancelled while
two trials train."""

from __future__ import annotations

import pytest

from benchmarks import cancel_latency


@pytest.mark.slow
def test_quick_run_cancels_a_job_and_a_search(tmp_path):
    tables = cancel_latency.main(["--quick", "--cli", "--out", str(tmp_path)])
    service, cli = tables["cancel_latency_runs"]
    assert service["status"] == "cancelled" and service["rows_running"] == 0
    assert service["rows_agree_with_study"] is True
    assert 0 < service["cancelled_s"] <= service["ray_down_s"]
    assert cli["status"] == "exit 130" and cli["rows_running"] == 0
    assert 0 < cli["cancelled_s"] <= cli["ray_down_s"]
    assert [r["runs"] for r in tables["cancel_latency"]] == [1, 1]
    assert "Machine: " in (tmp_path / "cancel_latency.md").read_text()
