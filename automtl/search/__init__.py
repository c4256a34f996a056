"""The search engine: Ray Tune workers driven by Optuna's multi-objective sampler.

``run_search(spec, callbacks)`` runs or resumes a job; see :mod:`automtl.search.runner`. The
names are imported lazily so that light users (job-spec validation, reports) do not import Ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automtl.search.callbacks import Progress, SearchCallbacks
    from automtl.search.outcome import TrialOutcome
    from automtl.search.runner import SearchResult, run_search

__all__ = ["Progress", "SearchCallbacks", "SearchResult", "TrialOutcome", "run_search"]

_WHERE = {
    "run_search": "automtl.search.runner",
    "SearchResult": "automtl.search.runner",
    "SearchCallbacks": "automtl.search.callbacks",
    "Progress": "automtl.search.callbacks",
    "TrialOutcome": "automtl.search.outcome",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'automtl.search' has no attribute {name!r}")
