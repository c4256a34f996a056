"""The demo's process and output-directory handling, without a real server."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from automtl_api.demo_service import (
    MARKER_ENV,
    OUTPUT_MARKER,
    DemoError,
    ServiceProcess,
    free_port,
    marked_processes,
    prepare_output_dir,
    service_environment,
)

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(),
    reason=("checks that no demo process is left "
            "by listing /proc, which only Linux has"))


def test_prepare_output_dir_creates_and_marks(tmp_path: Path) -> None:
    out = tmp_path / "a" / "demo"
    assert prepare_output_dir(out) is False
    assert (out / OUTPUT_MARKER).is_file()


def test_prepare_output_dir_empties_an_earlier_demo(tmp_path: Path) -> None:
    prepare_output_dir(tmp_path / "demo")
    (tmp_path / "demo" / "report.html").write_text("old")
    (tmp_path / "demo" / "bundle").mkdir()
    (tmp_path / "demo" / "bundle" / "train.py").write_text("old")
    assert prepare_output_dir(tmp_path / "demo") is True
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [OUTPUT_MARKER]


def test_prepare_output_dir_refuses_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(DemoError, match="not empty and was not written by automtl demo"):
        prepare_output_dir(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    (tmp_path / "file").write_text("x")
    with pytest.raises(DemoError, match="not a directory"):
        prepare_output_dir(tmp_path / "file")


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))


def test_service_environment_drops_inherited_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMTL_DATABASE_URL", "postgresql://elsewhere/db")
    monkeypatch.setenv("AUTOMTL_RAY_ADDRESS", "cluster:6379")
    monkeypatch.setenv("RAY_ADDRESS", "cluster:6379")
    env = service_environment({"AUTOMTL_DATA_DIR": "/x"})
    assert {k for k in env if k.startswith("AUTOMTL_")} == {"AUTOMTL_DATA_DIR"}
    assert "RAY_ADDRESS" not in env
    assert env["RAY_USAGE_STATS_ENABLED"] == "0"
    assert env["PATH"]


def test_marked_processes_finds_only_marked_ones() -> None:
    marker = uuid.uuid4().hex
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    marked = subprocess.Popen(sleep, env={MARKER_ENV: marker})
    unmarked = subprocess.Popen(sleep, env={MARKER_ENV: "other"})
    try:
        found = marked_processes(marker)
        assert [pid for pid, _ in found] == [marked.pid]
        assert "time.sleep(60)" in found[0][1]
    finally:
        for process in (marked, unmarked):
            process.kill()
            process.wait()
    assert marked_processes(marker) == []


# A "server" that ignores SIGTERM and, like Ray, starts a child in a session of its own.
STUBBORN = textwrap.dedent("""
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    subprocess.Popen([sys.executable, "-c",
                      "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                      "time.sleep(120)"], start_new_session=True)
    print("started", flush=True)
    time.sleep(120)
""")


def test_stop_kills_what_ignores_sigterm_even_outside_the_group(tmp_path: Path) -> None:
    service = ServiceProcess({"PATH": "/usr/bin:/bin"}, "127.0.0.1", free_port(),
                             tmp_path / "server.log", command=[sys.executable, "-c", STUBBORN])
    service.start()
    for _ in range(100):
        if len(marked_processes(service.marker)) == 2:
            break
        subprocess.run(["sleep", "0.1"], check=True)
    assert len(marked_processes(service.marker)) == 2
    killed = service.stop(grace=0.5, settle=0.5)
    assert any("time.sleep(120)" in line for line in killed)  # the grandchild had to be killed
    assert service.wait_for_leftovers(timeout=5.0) == []
    assert not service.running()


def test_stop_is_clean_when_the_server_exits_on_sigterm(tmp_path: Path) -> None:
    service = ServiceProcess({"PATH": "/usr/bin:/bin"}, "127.0.0.1", free_port(),
                             tmp_path / "server.log",
                             command=[sys.executable, "-c", "import time; time.sleep(120)"])
    service.start()
    assert service.running()
    assert service.stop(grace=10.0, settle=1.0) == []
    assert marked_processes(service.marker) == []


def test_wait_healthy_reports_a_server_that_died(tmp_path: Path) -> None:
    service = ServiceProcess({"PATH": "/usr/bin:/bin"}, "127.0.0.1", free_port(),
                             tmp_path / "server.log",
                             command=[sys.executable, "-c", "print('boom'); raise SystemExit(3)"])
    service.start()
    with pytest.raises(DemoError, match=r"exited \(3\)[\s\S]*boom"):
        service.wait_healthy(timeout=30.0)


def test_the_demo_prints_a_line_per_confirmation_run(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The 3-seed confirmation took 8 of the demo's 10 minutes with the job only 'running':
    each run now changes the job's stage detail, and each change is a line, however fast."""
    import time
    from types import SimpleNamespace

    from automtl_api import demo as demo_module

    progress = {"finished": 4, "pruned": 0, "failed": 0, "budget": 4, "running": 0,
                "front_size": 2, "hypervolume": 0.5}
    answers = [{"status": "running", "stage": "searching", "stage_detail": None}]
    answers += [{"status": "running", "stage": "confirming",
                 "stage_detail": f"{k}/3: trial 1 (mmoe, front) seed {k + 1}/3"}
                for k in range(3)]
    answers += [{"status": "running", "stage": "reporting", "stage_detail": None},
                {"status": "succeeded", "stage": None, "stage_detail": None}]
    replies = iter([{**a, "progress": progress} for a in answers])
    client = SimpleNamespace(job=lambda job_id: next(replies))
    monkeypatch.setattr(demo_module.time, "sleep", lambda seconds: None)
    demo = demo_module.Demo(args=SimpleNamespace(), out=Path("."), started=time.monotonic(),
                            artefacts=[])
    assert demo_module._follow(demo, client, 1, every=3600)["status"] == "succeeded"
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(answers)
    assert [line.rsplit("; stage ", 1)[-1] for line in lines[1:4]] == [
        f"confirming {k}/3: trial 1 (mmoe, front) seed {k + 1}/3" for k in range(3)]
    assert lines[4].endswith("; stage reporting") and "; stage" not in lines[5]


def test_the_demos_front_step_prints_the_mtl_gain_table_and_says_why_a_volume_is_0(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Step 6 printed no MTL gain table (automtl search does), and 'hypervolume 0.0000'
    without a reason for a front below the reference point."""
    from automtl_api.demo import _print_front

    gain = {"trial": 3, "topology": "mmoe", "task": "y1", "metric": "auc", "gain": 0.012,
            "ci_low": -0.01, "ci_high": 0.03, "p_value": 0.2, "within_noise": True,
            "baseline_std": 0.004, "seeds": 2, "verdict": "within noise"}
    objectives = [{"name": "y1", "direction": "maximize", "metric": "auc"},
                  {"name": "y2", "direction": "maximize", "metric": "auc"}]
    trial = {"number": 3, "state": "complete", "values": {"y1": 0.46, "y2": 0.61},
             "candidate": {"architecture": {"topology": "mmoe"}, "weighting": {"name": "equal"}},
             "valid": {"y1": {"auc": 0.46}, "y2": {"auc": 0.61}}, "test": {}, "on_front": True}
    front = {"objectives": objectives, "reference_point": {"y1": 0.5, "y2": 0.5},
             "hypervolume": 0.0, "trials": [trial], "n_trials": 1, "n_failed": 0,
             "n_dominated": 0,
             "mtl_gain": {"seeds": 2, "split": "test", "confidence": 0.95, "baseline_trial": 0,
                          "gains": [gain]}}
    _print_front(front, [{"name": "y1", "metric": "auc"}, {"name": "y2", "metric": "auc"}])
    out = capsys.readouterr().out
    assert "1 complete trial, 0 failed; 1 on the front" in out and "hypervolume 0.0000" in out
    assert "      hypervolume 0: no front point is better than the reference point " \
           "(y1 0.5, y2 0.5)" in out
    assert "      warning: task 'y1': validation AUC below 0.5 (below chance)" in out
    assert "      MTL gain over single-task (confirmed with 2 seeds" in out
    assert "baseline trial 0" in out and "within noise" in out
    # an empty front: no volume at all, as GET /jobs/{id} says it
    _print_front({**front, "trials": [], "n_trials": 0, "hypervolume": None,
                  "mtl_gain": None}, [{"name": "y1", "metric": "auc"}])
    out = capsys.readouterr().out
    assert "hypervolume - (reference point" in out and "MTL gain" not in out
