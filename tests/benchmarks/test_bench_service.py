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
    assert "slowest 6 per route" in out and "API full garbage collections" in out


def test_service_load_says_when_the_slowest_requests_were_sent_and_the_gc_pauses() -> None:
    """The diagnosis lines: per route the slowest requests as latency@offset from the start,
    the p99 before and after the split, and the full collections logged by GC_LOG's hook."""
    from benchmarks.service_load import Recorder, by_phase, gc_pauses, slowest

    recorder = Recorder()
    recorder.started_at = 1000.0
    recorder.timed["GET /report"] = [(1000.1, 2.5), (1000.2, 2.0)] + \
        [(1010.0 + i, 0.3) for i in range(20)]
    text = slowest(recorder, count=3)
    assert "GET /report      2.50@0.1 2.00@0.2 0.30@10.0" in text
    phases = by_phase(recorder, 5.0)
    assert "GET /report      2.495 (2) | 0.300 (20)" in phases
    assert "the table above counts every request" in phases
    log = "INFO x\nbench-gc2 1002.000 0.7400\nbench-gc2 1020.500 0.0100\nbench-gc2 990.0 9\n"
    assert gc_pauses(log, 1000.0, 30.0) == (
        "API full garbage collections during the load: 2, 0.75 s in all, longest "
        "0.74@2.0 0.01@20.5")
    assert gc_pauses("", 1000.0, 30.0).endswith(": 0")


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
