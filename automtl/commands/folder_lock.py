"""One ``automtl search`` per output folder: an exclusive lock on ``--out``.

Two searches writing the same folder share its study: both ran, the budget overshot ([28/20])
and both re-ran the same confirmation. :func:`lock_output_folder` takes an exclusive,
non-blocking :class:`filelock.FileLock` for the folder's resolved path, kept in the system's
temporary directory (not in the folder or beside it: a search refused for bad input writes
nothing), with a note of the holder (pid, host, start time, command line) next to it. The
operating system releases the lock when its process ends, however it ends, so a crashed search
never leaves the folder locked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from automtl.commands.console import UserError

#: where the locks live (one ``<sha1 of the folder's path>.lock`` and ``.owner`` per folder)
LOCK_DIR = Path(tempfile.gettempdir()) / "automtl-locks"


def lock_paths(folder: str | Path) -> tuple[Path, Path]:
    """``(lock file, owner note)`` of ``folder`` (its resolved path: ``run`` and ``./run/``
    are one folder)."""
    key = hashlib.sha1(str(Path(folder).resolve()).encode()).hexdigest()[:20]
    return LOCK_DIR / f"{key}.lock", LOCK_DIR / f"{key}.owner"


@contextlib.contextmanager
def lock_output_folder(folder: str | Path, option: str = "--out") -> Iterator[None]:
    """Hold the folder's lock for the block; raise :class:`UserError` (naming ``option``, the
    folder and the process that holds it) at once when another process holds it."""
    from filelock import FileLock, Timeout

    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    lock_file, owner_file = lock_paths(folder)
    lock = FileLock(str(lock_file), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise UserError(f"{Path(folder).resolve()} is in use by another automtl search "
                        f"({_holder(owner_file)}); wait for it to end or choose another "
                        f"{option}", field=option) from None
    try:
        owner_file.write_text(json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(["automtl", *sys.argv[1:]])[:300]}))
        yield
    finally:
        with contextlib.suppress(OSError):
            owner_file.unlink()
        lock.release()


def _holder(owner_file: Path) -> str:
    try:
        owner = json.loads(owner_file.read_text())
        return (f"pid {owner['pid']} on {owner['host']}, started {owner['started']}: "
                f"{owner['command']}")
    except (OSError, ValueError, KeyError):
        return "its process is starting"
