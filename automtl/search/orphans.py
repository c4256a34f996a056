"""Trial processes end with their Ray node: no training left running after a ``kill -9``.

Ray's worker processes (where trials train) are children of the node's raylet. When the search's
driver (``automtl search`` or ``automtl worker``) is killed with SIGKILL, Ray tears the node
down, but a worker busy in a training loop does not notice for minutes and keeps using CPU and
memory beside the next run (issue 20 item 6). :func:`exit_when_orphaned` starts a daemon thread
in the trial process that exits it within ``interval`` seconds of being re-parented.
"""

from __future__ import annotations

import os
import threading

_started = False
_lock = threading.Lock()


def exit_when_orphaned(interval: float = 1.0) -> bool:
    """Watch this process's parent (once per process; later calls do nothing and return
    False): when it is gone, the process exits at once with status 1 (``os._exit``: the node
    is gone, nothing of the trial can be reported anyway)."""
    global _started
    with _lock:
        if _started:
            return False
        _started = True
    parent = os.getppid()

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(interval):
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="automtl-orphan-watch", daemon=True).start()
    return True
