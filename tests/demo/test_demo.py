"""``automtl demo`` end to end with a tiny budget: a real server, worker and Ray, in a subprocess.

Every process the demo starts inherits ``DEMO_TEST_RUN=<uuid>`` from the test, so the test can
check on its own (through ``/proc``) that none is left afterwards.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from automtl_api.demo_service import marked_processes

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc").is_dir(),
                  reason=("checks that no demo process is left "
                          "by listing /proc, which only Linux has"))]

TEST_MARKER = "DEMO_TEST_RUN"
BUNDLE_FILES = {"config.yaml", "train.py", "model.py", "weights.pt", "model.ts", "README.md"}


def _demo(out: Path, *args: str) -> tuple[list[str], dict[str, str], str]:
    marker = uuid.uuid4().hex
    env = {**os.environ, TEST_MARKER: marker, "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "disabled"}
    command = [sys.executable, "-m", "automtl.cli", "demo", "--out", str(out), *args]
    return command, env, marker


def _no_process_left(marker: str) -> list[tuple[int, str]]:
    deadline = time.monotonic() + 10
    while (left := marked_processes(marker, TEST_MARKER)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def _bundle_dir(out: Path) -> Path:
    (bundle,) = (out / "bundle").iterdir()
    return bundle


def _run_keep_serving(out: Path, *args: str) -> str:
    """Run the demo with ``--keep-serving``; once it says it keeps serving, check its server
    answers, press Ctrl-C (SIGINT) and wait for a clean exit.  Returns its output.

    The shutdown may take the service's own worst case (60 s grace, 10 s for the group, 15 s
    for leftovers) on a loaded machine, hence the 300 s; on a timeout the output so far,
    shutdown lines included, is the failure message."""
    command, env, marker = _demo(out, *args, "--keep-serving")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout],  # type: ignore[union-attr]
                     daemon=True).start()
    seen: list[str] = []

    def drain() -> str:
        while not lines.empty():
            seen.append(lines.get())
        return "".join(seen)

    try:
        deadline = time.monotonic() + 900
        while not any("keeps running at" in line for line in seen):
            assert time.monotonic() < deadline and process.poll() is None, "".join(seen)
            try:
                seen.append(lines.get(timeout=1.0))
            except queue.Empty:
                pass
        url = next(line for line in seen if "keeps running at" in line).split(
            "keeps running at ")[1].split()[0]
        token = (out / "token.txt").read_text().strip()
        jobs = httpx.get(f"{url}/api/v1/jobs", headers={"Authorization": f"Bearer {token}"},
                         timeout=30).json()
        assert [(j["id"], j["status"]) for j in jobs["items"]] == [(1, "succeeded")]
        process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = process.wait(timeout=300)
        except subprocess.TimeoutExpired:
            time.sleep(0.5)
            raise AssertionError("the demo did not exit within 300 s of Ctrl-C:\n"
                                 + drain()) from None
        assert code == 0, drain()
    finally:
        if process.poll() is None:
            process.kill()
        left = _no_process_left(marker)
        for pid, _ in left:
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    stdout = drain()
    assert left == [], f"processes left after the demo: {left}"
    # the server is gone with the demo
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/healthz", timeout=5)
    return stdout


def test_demo_runs_the_main_job_end_to_end_and_serves_until_interrupted(tmp_path: Path) -> None:
    """One demo run covers both the main job (every step, the artefacts) and
    ``--keep-serving`` (the server answers until Ctrl-C, then nothing is left): two runs cost
    the suite a second full demo."""
    out = tmp_path / "demo"
    stdout = _run_keep_serving(out, "--trials", "3", "--epochs", "1", "--rows", "3000")

    # the steps, the progress lines and the front table
    for step in range(1, 10):
        assert f"[{step}/9]" in stdout
    # pruned trials count toward the budget and are named (MO-ASHA may stop some)
    assert re.search(r"succeeded trials: 3 ended \(\d complete, \d pruned, 0 failed\) of a budget "
                     r"of 3",
                     stdout), stdout
    assert "trial  topology" in stdout and "valid y1 auc" in stdout and "test y2 auc" in stdout
    front = json.loads((out / "pareto.json").read_text())
    assert front["status"] == "succeeded" and front["n_trials"] == 3
    assert front["trials"], "the front is empty"
    for trial in front["trials"]:  # every front trial is a row of the printed table
        assert any(line.split()[:1] == [str(trial["number"])] for line in stdout.splitlines()
                   if line.startswith("      ")), trial["number"]
    assert (out / "front.csv").read_text().startswith("trial,topology,weighting")

    # the report, the bundle, and train.py's one epoch on the uploaded CSV
    report = (out / "report.html").read_text()
    assert 'id="pareto-front"' in report
    assert "plotly.js v" in report  # Plotly embedded: the kept file opens offline
    bundle = _bundle_dir(out)
    assert BUNDLE_FILES <= {p.name for p in bundle.iterdir()}
    assert "best epoch 1 of 1" in stdout
    metrics = json.loads((out / "bundle-trained" / "metrics.json").read_text())
    assert metrics["epochs"] == 1
    assert set(metrics["valid"]) == {"y1", "y2"}
    assert all(0.0 < metrics["test"][task]["auc"] <= 1.0 for task in ("y1", "y2"))
    assert (out / "bundle-trained" / "weights.pt").stat().st_size > 0

    # the service really ran: an upload, a SQLite file, a clean shutdown of the worker
    assert len(list((out / "service" / "datasets").iterdir())) == 1
    assert (out / "automtl.db").stat().st_size > 0
    log = (out / "server.log").read_text()
    assert '"POST /api/v1/datasets HTTP/1.1" 201' in log
    assert "job 1 succeeded" in log
    assert "waiting for jobs" in log and ": stopped" in log  # the worker shut down cleanly
    assert "shutdown: clean" in stdout
    # the artefact list names what is there
    listing = stdout[stdout.index("artefacts in"):]
    for name in ("report.html", "bundle.zip", "pareto.json", "data/synthetic.csv", "server.log"):
        assert name in listing and (out / name).exists()
    assert "wall time" in stdout
