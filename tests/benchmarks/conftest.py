"""The benchmarks set torch's thread count by design (``--threads``; a trial run in-process sets
its ``cpus_per_trial``): every test here gets the count put back (``thread_count_put_back``)."""

import pytest


@pytest.fixture(autouse=True)
def _benchmarks_set_thread_counts(thread_count_put_back: None) -> None:
    """See the module docstring."""
