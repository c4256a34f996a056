"""Startup coverage: the first trials of a new study try every topology and every weighting.

A multivariate TPE (or NSGA-II) sampler starts from a handful of random trials and then
follows what looked good early, so in a space of 9 topologies some are never tried: on a
real two-task dataset TPE spent 22 of 40 trials on ``cross_stitch`` and 0 on ``ple``. Before
the sampler takes over, :func:`enqueue_coverage` enqueues (Optuna's ``Study.enqueue_trial``)
one trial per topology, each paired with a weighting so that every weighting of the space is
also tried at least once on a topology with shared parameters; every other parameter of those
trials (sizes, learning rate, ...) is left to the sampler, which draws it from its independent
(random) startup distribution. ``single_task`` is enqueued without a weighting (it takes none,
see :class:`search_spaces.SearchSpace`).

Enqueued trials are marked with the ``automtl:coverage`` user attribute, so the record shows
which trials were the coverage startup.
"""

from __future__ import annotations

import random
from typing import Any

import optuna
from optuna.trial import TrialState

from automtl.jobspec import Objective
from search_spaces.space import SINGLE_TASK, SearchSpace

ATTR_COVERAGE = "automtl:coverage"


def coverage_params(space: SearchSpace, seed: int) -> list[dict[str, Any]]:
    """The fixed parameters of the startup trials: every topology at least once, and every
    weighting at least once on a topology that shares parameters.

    With ``T`` shared topologies and ``W`` weightings this is ``max(T, W)`` trials (plus one
    for ``single_task`` when the space has it): the weightings are shuffled (seeded) and dealt
    round-robin over the topologies, so no weighting is tied to the same topology in every job.
    Only choices the space actually asks for appear (one topology -> no ``topology`` key).
    """
    topologies = space.topologies
    weightings = list(space.weightings)
    random.Random(seed).shuffle(weightings)
    shared = [t for t in topologies if t != SINGLE_TASK]
    out: list[dict[str, Any]] = []
    if SINGLE_TASK in topologies:
        out.append({"topology": SINGLE_TASK} if len(topologies) > 1 else {})
    if shared:
        for i in range(max(len(shared), len(weightings))):
            params: dict[str, Any] = {}
            if len(topologies) > 1:
                params["topology"] = shared[i % len(shared)]
            if len(weightings) > 1:
                params["weighting"] = weightings[i % len(weightings)]
            out.append(params)
    return [p for p in out if p]


def enqueue_coverage(study: optuna.Study, space: SearchSpace, seed: int, budget: int) -> int:
    """Enqueue the coverage startup trials on a study that has no trials yet; how many.

    A study that already has trials (a resumed or warm-started run) is left alone. With a
    budget smaller than the coverage set, only the first ``budget`` are enqueued (the topologies
    in space order, ``single_task`` first): the job cannot cover the space, and its record says
    which topologies were tried.
    """
    if study.get_trials(deepcopy=False):
        return 0
    startup = coverage_params(space, seed)[:budget]
    for params in startup:
        study.enqueue_trial(params, user_attrs={ATTR_COVERAGE: True})
    return len(startup)


def topology_summary(study: optuna.Study, objectives: list[Objective]) -> dict[str, Any]:
    """Per topology: how many trials tried it, how they ended, and its best value per objective.

    ``{topology: {"trials", "complete", "pruned", "failed", "interrupted" (stopped by a
    cancel or the time limit before it finished: not a failure), "best": {objective: {"value",
    "trial"}}}}`` in the order the topologies were first tried; ``best`` is over the topology's
    COMPLETE feasible trials (validation values, each objective in its own direction), so a
    user can see which topologies were tried and how far each got, not only the front.
    """
    from automtl.trial_record import ATTR_CANDIDATE, ATTR_INTERRUPTED, is_feasible, stored_attrs

    out: dict[str, dict[str, Any]] = {}
    for trial in study.get_trials(deepcopy=False):
        candidate = stored_attrs(trial).get(ATTR_CANDIDATE) or {}
        topology = candidate.get("architecture", {}).get("topology")
        if topology is None:
            continue
        row = out.setdefault(topology, {"trials": 0, "complete": 0, "pruned": 0, "failed": 0,
                                        "interrupted": 0, "best": {}})
        row["trials"] += 1
        state = trial.state
        if state == TrialState.PRUNED:
            row["pruned"] += 1
        elif state == TrialState.FAIL:
            row["interrupted" if stored_attrs(trial).get(ATTR_INTERRUPTED) else "failed"] += 1
        elif state == TrialState.COMPLETE:
            row["complete"] += 1
            if trial.values is None or not is_feasible(trial):
                continue
            for objective, value in zip(objectives, trial.values, strict=True):
                best = row["best"].get(objective.name)
                better = best is None or (value > best["value"]
                                          if objective.direction == "maximize"
                                          else value < best["value"])
                if better:
                    row["best"][objective.name] = {"value": float(value), "trial": trial.number}
    return out
