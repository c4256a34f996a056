"""Startup coverage: every topology and weighting is tried before the sampler takes over."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

import search_spaces
from automtl.jobspec import load_job_spec
from automtl.search.coverage import (
    ATTR_COVERAGE,
    coverage_params,
    enqueue_coverage,
    topology_summary,
)
from automtl.search.samplers import make_sampler
from automtl.trial_record import ATTR_CANDIDATE

SPEC = {"name": "s", "dataset": {"builtin": "synthetic", "rows": 200},
        "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}]}


def _run_sampling(space: Any, sampler_name: str, trials: int, coverage: bool,
                  seed: int = 0) -> list[dict[str, Any]]:
    """Ask ``trials`` candidates from a fresh study (told random values) as the runner does."""
    import random

    study = optuna.create_study(directions=["maximize", "maximize"],
                                sampler=make_sampler(sampler_name, seed, trials))
    if coverage:
        enqueue_coverage(study, space, seed, trials)
    rng = random.Random(seed)
    out = []
    for _ in range(trials):
        trial = study.ask()
        candidate = space.sample(trial)
        study.tell(trial, [rng.random(), rng.random()])
        out.append(candidate)
    return out


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "random"])
def test_the_first_trials_cover_every_topology_and_weighting(sampler: str) -> None:
    space = search_spaces.load({"preset": "default"})
    startup = len(coverage_params(space, 0))
    candidates = _run_sampling(space, sampler, startup + 3, coverage=True)
    first = candidates[:startup]
    assert {c["architecture"]["topology"] for c in first} == set(space.topologies)
    shared = [c for c in first if c["architecture"]["topology"] != "single_task"]
    assert {c["weighting"]["name"] for c in shared} == set(space.weightings)


def test_coverage_set_is_as_small_as_the_larger_branch_list() -> None:
    space = search_spaces.load({"preset": "default"})
    params = coverage_params(space, 3)
    shared = [t for t in space.topologies if t != "single_task"]
    assert len(params) == 1 + max(len(shared), len(space.weightings))
    assert params[0] == {"topology": "single_task"}  # no weighting for single_task
    # a different seed deals the weightings differently, the topologies stay in order
    other = coverage_params(space, 4)
    assert [p["topology"] for p in other] == [p["topology"] for p in params]
    assert [p["weighting"] for p in other[1:]] != [p["weighting"] for p in params[1:]]


def test_a_space_with_one_topology_and_one_weighting_needs_no_coverage() -> None:
    space = search_spaces.load({"topology": {"choose": {"mmoe": {"experts": 2}}},
                                "weighting": {"choose": {"equal": {}}},
                                "optimizer": {"lr": 1.0e-3, "epochs": 1}})
    assert coverage_params(space, 0) == []


def test_coverage_is_enqueued_only_on_a_new_study_and_capped_by_the_budget() -> None:
    space = search_spaces.load({"preset": "default"})
    study = optuna.create_study(directions=["maximize", "maximize"])
    assert enqueue_coverage(study, space, 0, budget=4) == 4
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 4 and all(t.user_attrs[ATTR_COVERAGE] for t in waiting)
    assert enqueue_coverage(study, space, 0, budget=40) == 0  # not on a study with trials


def test_topology_summary_counts_states_and_best_values() -> None:
    spec = load_job_spec(SPEC)
    study = optuna.create_study(directions=["maximize", "maximize"])
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for topology, values, state in [("mmoe", [0.7, 0.6], TrialState.COMPLETE),
                                    ("mmoe", [0.6, 0.8], TrialState.COMPLETE),
                                    ("mmoe", None, TrialState.PRUNED),
                                    ("ple", None, TrialState.FAIL)]:
        trial = study.ask(dist)
        trial.set_user_attr(ATTR_CANDIDATE, {"architecture": {"topology": topology}})
        study.tell(trial, values, state=state)
    summary = topology_summary(study, spec.objective_list())
    assert summary["mmoe"]["trials"] == 3 and summary["mmoe"]["pruned"] == 1
    assert summary["mmoe"]["best"]["t1"] == {"value": 0.7, "trial": 0}
    assert summary["mmoe"]["best"]["t2"] == {"value": 0.8, "trial": 1}
    assert summary["ple"] == {"trials": 1, "complete": 0, "pruned": 0, "failed": 1,
                              "interrupted": 0, "best": {}}
