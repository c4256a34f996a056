"""The service benchmarks' ``--quick`` modes run (load, fuzz, start race), so they never rot;
the fuzz smoke also holds the server to zero 5xx."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def test_start_race_quick(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.start_race import main

    assert main(["--quick"]) == 0
    assert "start race: 0 of 6 starts failed" in capsys.readouterr().out


def test_service_load_quick(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.service_load import main

    assert main(["--quick", "--timeout", "120"]) == 0
    out = capsys.readouterr().out
    for route in ("POST /jobs", "GET /jobs/{id}", "GET /report", "all reads"):
        assert route in out
    assert "server log: 0 'database is locked', 0 'QueuePool limit'" in out


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="reads the server's CPU time from /proc, which only Linux has")
def test_service_cpu_quick(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.service_cpu import main

    assert main(["--quick"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("  ")[0].strip(): line.split() for line in out.splitlines()
            if line.startswith(("GET", "POST"))}
    assert set(rows) >= {"GET /jobs/{id}", "GET /pareto", "GET /report", "POST /jobs"}
    for route, fields in rows.items():
        cpu_ms = float(fields[-2])
        assert 0.0 <= cpu_ms < 10_000.0, (route, out)  # per request, from /proc
    assert "mean of reads" in out


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="reads the server's CPU time from /proc, which only Linux has")
def test_service_cpu_counts_every_api_process(capsys: pytest.CaptureFixture[str]) -> None:
    """With ``--api-workers 2`` the requests run in serve's child processes: their CPU is
    what is counted (serve's own process only supervises them)."""
    from benchmarks.service_cpu import main

    assert main(["--quick", "--api-workers", "2"]) == 0
    out = capsys.readouterr().out
    mean = [line for line in out.splitlines() if line.startswith("mean of reads")][0]
    assert float(mean.split()[-1]) > 2.0, out  # ms of CPU per read: the children's


def test_service_fuzz_quick(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("schemathesis")
    from benchmarks.service_fuzz import main

    assert main(["--quick"]) == 0
    out = capsys.readouterr().out
    total = [line for line in out.splitlines() if line.startswith("total")][0]
    cases, server_errors = (int(v) for v in total.split()[1:3])
    assert cases > 20 and server_errors == 0, out
