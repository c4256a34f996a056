"""One local Ray for every search test that runs trials through Ray Tune.

Starting a local Ray and shutting it down costs about 10 s on two loaded cores; five modules
here did it once each.  ``local_ray`` starts it when none is up (module scope, so module-scoped
fixtures can use it) and leaves it running; the hook below shuts it down after the last test of
this folder, so no idle Ray outlives the search tests.  ``run_search`` joins a Ray that is
already initialised (``_ensure_ray``) and leaves it up, as it does for a caller's own Ray.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray with 2 CPUs (started here if none is up; see the module docstring)."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Shut Ray down once the next test (if any) is outside this folder."""
    if nextitem is not None and HERE in Path(nextitem.path).resolve().parents:
        return
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


@pytest.fixture(autouse=True)
def _trials_set_thread_counts(thread_count_put_back: None) -> None:
    """Trials run in the test process here and set its thread count (see the root fixture)."""
