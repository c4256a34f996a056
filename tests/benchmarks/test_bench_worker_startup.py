"""benchmarks.worker_startup --quick: a worker's imports, metric and latency costs."""

from __future__ import annotations

import pytest

from benchmarks import worker_startup


@pytest.mark.slow
def test_quick_run_measures_imports_metrics_and_latency(tmp_path):
    tables = worker_startup.main(["--quick", "--out", str(tmp_path)])
    imports = tables["worker_startup_imports"][0]
    assert imports["worker imports scikit-learn"] is False
    assert imports["worker imports s"] > 0 and imports["sklearn.metrics on top s"] > 0
    metrics = tables["worker_startup_metrics"]
    assert [r["metrics"].split()[0] for r in metrics] == ["numpy", "scikit-learn"]
    assert all(r["ms per validation pass"] > 0 for r in metrics)
    assert all(r["max abs difference"] < 1e-12 for r in metrics)
    latency = tables["worker_startup_latency"]
    assert [r["passes after training"] for r in latency] == [7, 1]
    assert all(r["s per trial"] > 0 and r["latency ms per 1k rows"] > 0 for r in latency)
    for name in tables:
        assert "Machine: " in (tmp_path / f"{name}.md").read_text()
