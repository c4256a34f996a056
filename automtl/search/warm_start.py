"""Warm start: a new search tries an earlier search's front first.

``warm_start: {directory: DIR}`` (a local ``automtl search --out DIR``, whose study lives in
``DIR/automtl.db``) or ``warm_start: {job: ID}`` (a job of the same owner, resolved by the
service's worker) names the earlier study. Its Pareto-optimal trials' parameters are enqueued
(``Study.enqueue_trial``) on the new study before the coverage trials, so they are the first
candidates trained; a point whose parameters are not valid in the new search space (another
preset, a narrower range) is skipped and named in the log. Only a study with no trials yet is
warm-started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import optuna

from automtl.jobspec import WarmStartSpec
from search_spaces.space import SearchSpace

logger = logging.getLogger(__name__)

ATTR_WARM_START = "automtl:warm_start_of"

#: (warm-start spec) -> (Optuna storage URL, study name) of the earlier search
WarmStartResolver = Callable[[WarmStartSpec], tuple[str, str]]


def resolve_directory(warm: WarmStartSpec) -> tuple[str, str]:
    """The storage URL and study name of a local search directory.

    Raises ``FileNotFoundError`` when ``DIR/automtl.db`` is missing and ``ValueError`` when it
    holds no study, or several and ``warm_start.study`` does not pick one; ``ValueError`` for a
    ``job`` reference (only the service can resolve job ids).
    """
    if warm.directory is None:
        raise ValueError("warm_start.job: a job id is resolved by the service; a local search "
                         "warm-starts from warm_start.directory")
    database = Path(warm.directory).expanduser().resolve() / "automtl.db"
    if not database.is_file():
        raise FileNotFoundError(f"warm_start.directory: no search database at {database}")
    url = f"sqlite:///{database}"
    names = optuna.get_all_study_names(storage=url)
    if warm.study is not None:
        if warm.study not in names:
            raise ValueError(f"warm_start.study: no study {warm.study!r} in {database}; "
                             f"studies: {names}")
        return url, warm.study
    if len(names) != 1:
        raise ValueError(f"warm_start.study: {database} holds {len(names)} studies {names}; "
                         "name one")
    return url, names[0]


def enqueue_warm_start(study: optuna.Study, space: SearchSpace, source_url: str,
                       source_study: str) -> list[int]:
    """Enqueue the source study's front on ``study`` (when it has no trials yet); the source
    trial numbers enqueued."""
    if study.get_trials(deepcopy=False):
        return []
    source = optuna.load_study(study_name=source_study, storage=source_url)
    enqueued = []
    for trial in sorted(source.best_trials, key=lambda t: t.number):
        try:
            space.fixed_candidate(trial.params)
        except Exception as exc:  # noqa: BLE001 - SearchSpaceError and friends: skip the point
            logger.warning("warm start: trial %d of %s does not fit this search space (%s); "
                           "skipped", trial.number, source_study, exc)
            continue
        study.enqueue_trial(trial.params, user_attrs={ATTR_WARM_START:
                                                      f"{source_study}#{trial.number}"})
        enqueued.append(trial.number)
    return enqueued
