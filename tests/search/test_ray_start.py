"""A local Ray start that fails is cleaned up and tried again (`automtl.search.runner._ensure_ray`).

Seen under load: ``ray.init`` raised "The current node timed out during startup" (its raylet
gets a fixed 30 s to register), the job failed at once, and the GCS server it had started kept
running under the worker for 13 minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from automtl.search import runner

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc"),
    reason="the leftover Ray processes are found as children in /proc, which only Linux has")


class FlakyRay:
    """Stands for the ``ray`` module: each failing ``init`` starts a child process (as Ray starts
    its GCS server) and then raises as Ray's node start does."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.children: list[subprocess.Popen[bytes]] = []
        self.initialized = False

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, **kwargs: object) -> None:
        self.calls += 1
        assert kwargs["address"] == "local"
        if self.calls <= self.failures:
            self.children.append(subprocess.Popen(
                [sys.executable, "-c", "import time; time.sleep(120)"]))
            raise Exception("The current node timed out during startup.")
        self.initialized = True

    def shutdown(self) -> None:
        self.initialized = False


def _alive(child: subprocess.Popen[bytes]) -> bool:
    return child.poll() is None


def test_a_failed_start_stops_what_it_started_and_is_tried_again(monkeypatch):
    monkeypatch.setattr("tenacity.nap.time.sleep", lambda seconds: None)
    ray = FlakyRay(failures=2)
    assert runner._ensure_ray(ray, None, 1) is True
    assert ray.calls == 3 and ray.initialized
    time.sleep(0.1)
    assert [_alive(child) for child in ray.children] == [False, False]


def test_the_last_error_is_raised_after_every_attempt_failed(monkeypatch):
    monkeypatch.setattr("tenacity.nap.time.sleep", lambda seconds: None)
    ray = FlakyRay(failures=runner.RAY_START_ATTEMPTS)
    with pytest.raises(Exception, match="timed out during startup"):
        runner._ensure_ray(ray, None, 1)
    assert ray.calls == runner.RAY_START_ATTEMPTS and not ray.initialized
    assert not any(_alive(child) for child in ray.children)


def test_a_running_ray_is_left_alone():
    ray = FlakyRay(failures=0)
    ray.initialized = True
    assert runner._ensure_ray(ray, None, 1) is False
    assert ray.calls == 0


class RecordingRay(FlakyRay):
    """A Ray stand-in that records the environment its local start saw."""

    def init(self, **kwargs: object) -> None:
        self.environment = dict(os.environ)
        super().init(**kwargs)


def test_a_local_start_skips_the_idle_workers_tune_never_uses(monkeypatch):
    # (set first so that monkeypatch removes what _ensure_ray adds when the test ends)
    monkeypatch.setenv("RAY_prestart_worker_first_driver", "unset")
    monkeypatch.delenv("RAY_prestart_worker_first_driver")
    ray = RecordingRay(failures=0)
    assert runner._ensure_ray(ray, None, 1) is True
    assert ray.environment["RAY_prestart_worker_first_driver"] == "0"


def test_a_ray_setting_the_caller_gave_is_kept(monkeypatch):
    monkeypatch.setenv("RAY_prestart_worker_first_driver", "1")
    ray = RecordingRay(failures=0)
    runner._ensure_ray(ray, None, 1)
    assert ray.environment["RAY_prestart_worker_first_driver"] == "1"


def test_ray_starts_and_tunes_without_its_info_lines(monkeypatch):
    """A new user saw Ray's "INFO worker.py -- Started a local Ray instance" and Tune's "INFO
    tune.py:1007 -- Wrote the latest version of all result files ..." among automtl's own
    lines: Ray's loggers start at WARNING, and Tune's INFO is dropped while a search runs;
    warnings still pass."""
    import logging

    seen: dict[str, object] = {}

    class QuietRay(FlakyRay):
        def init(self, **kwargs: object) -> None:
            seen.update(kwargs)
            super().init(**kwargs)

    assert runner._ensure_ray(QuietRay(failures=0), None, 1) is True
    assert seen["logging_level"] == runner.RAY_LOG_LEVEL == logging.WARNING
    tune_logger = logging.getLogger("ray.tune.tune")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    tune_logger.addHandler(handler)
    monkeypatch.setattr(logging.getLogger("ray.tune"), "level", logging.INFO)
    try:
        with runner._quiet("ray.tune", logging.WARNING):
            tune_logger.info("Wrote the latest version of all result files")
            tune_logger.warning("a trial's resources do not fit")
        tune_logger.info("after the search")
    finally:
        tune_logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == ["a trial's resources do not fit",
                                                 "after the search"]
