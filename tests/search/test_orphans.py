"""A trial process exits once its parent (the Ray node's raylet) is gone (issue 20 item 6: a
killed worker left Ray trial processes training for minutes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from automtl.search.orphans import exit_when_orphaned

#: a parent that starts a busy child (as a raylet starts a trial worker) and waits to be killed;
#: the child, sharing the parent's stdout, prints its pid once its watch runs
PARENT = r"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", '''
import os, time
from automtl.search.orphans import exit_when_orphaned
exit_when_orphaned(interval=0.2)
print(os.getpid(), flush=True)
deadline = time.monotonic() + 120
while time.monotonic() < deadline:  # a training loop that never looks up
    sum(i * i for i in range(10000))
'''])
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_busy_child_exits_soon_after_its_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    child = 0
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())  # its watch is running
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the orphaned child kept running"
    finally:
        if parent.poll() is None:
            parent.kill()
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)


def test_the_watch_starts_once_per_process():
    # the first call of this test process may have happened already (another test); after
    # any call, a further one is a no-op
    exit_when_orphaned(interval=60)
    assert exit_when_orphaned(interval=60) is False
