"""The worker ``automtl serve`` starts dies with it (issue 20 item 6), also when serve is
killed with SIGKILL and cannot stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from api_support import make_settings

from automtl_storage import upgrade

PARENT = """
import sys, time
from automtl_api.commands import WorkerProcess
from automtl_api.settings import Settings
supervisor = WorkerProcess(Settings().environment())
supervisor.start()
print(supervisor.pid, flush=True)
time.sleep(600)
"""

WATCHED = """
import os, sys, time, signal
from automtl_api.commands import watch_parent
signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
watch_parent(int(sys.argv[1]), interval=0.1)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) counts as gone
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state != "Z"


def _wait_gone(pid: int, limit: float = 120.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"),
    reason=("watches the worker and its Ray processes through "
            "Linux /proc (children, state), which other systems lack"))
def test_the_worker_of_a_sigkilled_serve_stops(tmp_path: Path):
    settings = make_settings(tmp_path)
    upgrade(settings.resolved_database_url)
    env = {**os.environ, **settings.environment()}
    parent = subprocess.Popen([sys.executable, "-c", PARENT], env=env, stdout=subprocess.PIPE,
                              text=True)
    worker_pid = None
    try:
        assert parent.stdout is not None
        worker_pid = int(parent.stdout.readline())
        time.sleep(2.0)
        assert _alive(worker_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        assert _wait_gone(worker_pid), "the worker outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        if worker_pid is not None and _alive(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"),
    reason=("watches the worker and its Ray processes through "
            "Linux /proc (children, state), which other systems lack"))
def test_the_parent_watch_stops_a_process_whose_parent_is_gone(tmp_path: Path):
    """The fallback where prctl is not there: a middle process starts a watched child and is
    SIGKILLed; the child notices it was re-parented and ends by SIGTERM."""
    middle = subprocess.Popen(
        [sys.executable, "-c",
         "import os, subprocess, sys, time\n"
         f"p = subprocess.Popen([sys.executable, '-c', {WATCHED!r}, str(os.getpid())])\n"
         "print(p.pid, flush=True)\ntime.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True)
    assert middle.stdout is not None
    child = int(middle.stdout.readline())
    try:
        time.sleep(1.0)
        assert _alive(child)
        middle.kill()
        middle.wait(timeout=30)
        assert _wait_gone(child, 60.0)
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)

