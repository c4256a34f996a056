"""A worker process for the concurrent-claim test: claim queued jobs until none is left.

Module-level so ``multiprocessing`` (spawn) can import it in the child process."""

from __future__ import annotations

import time
from typing import Any

from automtl_storage import Database, JobRepository


def claim_until_empty(url: str, worker_id: str, ready: Any, results: Any) -> None:
    """Connect, wait at the ``ready`` barrier, claim jobs one transaction each, then put
    ``(worker, claimed ids, seconds)`` on ``results``."""
    database = Database(url)
    claimed: list[int] = []
    try:
        with database.engine.connect():
            pass
        ready.wait(timeout=120)
        began = time.perf_counter()
        while True:
            with database.session() as session:
                job = JobRepository(session).claim_next(worker_id)
                if job is None:
                    break
                claimed.append(job.id)
        results.put((worker_id, claimed, time.perf_counter() - began))
    except BaseException as exc:  # report to the parent instead of dying silently
        results.put((worker_id, repr(exc), 0.0))
    finally:
        database.dispose()
