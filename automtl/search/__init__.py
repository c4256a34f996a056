"""The search engine: Ray Tune workers driven by Optuna's multi-objective sampler.

``run_search(spec, callbacks)`` runs or resumes a job; see :mod:`automtl.search.runner`. The
names are imported lazily so that light users (job-spec validation, reports) do not import Ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automtl._lazy import lazy_getattr

if TYPE_CHECKING:
    from automtl.search.callbacks import Progress, SearchCallbacks, Stage
    from automtl.search.runner import SearchResult, run_search
    from automtl.trial_record import TrialOutcome

__all__ = ["Progress", "SearchCallbacks", "SearchResult", "Stage", "TrialOutcome", "run_search"]

_WHERE = {
    "run_search": "automtl.search.runner",
    "SearchResult": "automtl.search.runner",
    "SearchCallbacks": "automtl.search.callbacks",
    "Progress": "automtl.search.callbacks",
    "Stage": "automtl.search.callbacks",
    "TrialOutcome": "automtl.trial_record",
}


__getattr__ = lazy_getattr(__name__, _WHERE)
