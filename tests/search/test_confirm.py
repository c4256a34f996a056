"""Confirmation: which trials are re-trained, and the paired gains with their intervals."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from automtl.jobspec import JobSpecError, load_job_spec
from automtl.search.confirm import (
    STUDY_CONFIRMATION_ATTR,
    paired_gain,
    run_confirmation,
    select_candidates,
)
from automtl.trial_record import ATTR_CANDIDATE, study_attrs

SPEC = {"name": "s", "dataset": {"builtin": "synthetic", "rows": 200},
        "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}],
        "confirm": {"seeds": 3}}


def _study(points: list[tuple[str, list[float]]]) -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "maximize"])
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for topology, values in points:
        trial = study.ask(dist)
        trial.set_user_attr(ATTR_CANDIDATE, {"architecture": {"topology": topology},
                                             "offset": values[0]})
        study.tell(trial, values)
    return study


def test_selection_takes_the_front_the_best_single_task_and_each_topologys_best() -> None:
    spec = load_job_spec(SPEC)
    study = _study([("single_task", [0.70, 0.70]),   # 0: best single_task, dominated
                    ("single_task", [0.60, 0.60]),   # 1
                    ("mmoe", [0.80, 0.75]),          # 2: front
                    ("mmoe", [0.65, 0.65]),          # 3: neither
                    ("ple", [0.72, 0.90])])          # 4: front, best ple
    chosen = {c["trial"]: c["roles"] for c in select_candidates(study, spec)}
    assert chosen == {0: ["single_task"], 2: ["front", "topology"], 4: ["front", "topology"]}


def test_paired_gain_interval_and_noise() -> None:
    clear = paired_gain([0.80, 0.81, 0.79], [0.70, 0.71, 0.69], "maximize")
    assert clear["gain"] == pytest.approx(0.10)
    assert clear["ci_low"] > 0 and clear["within_noise"] is False and clear["p_value"] < 0.01
    noisy = paired_gain([0.70, 0.75, 0.66], [0.71, 0.69, 0.70], "maximize")
    assert noisy["ci_low"] < 0 < noisy["ci_high"] and noisy["within_noise"] is True
    # minimised metrics: lower is a positive gain
    lower = paired_gain([0.30, 0.31, 0.29], [0.40, 0.42, 0.39], "minimize")
    assert lower["gain"] > 0 and lower["within_noise"] is False
    assert paired_gain([0.8], [0.7], "maximize")["ci_low"] is None


def test_run_confirmation_trains_each_candidate_with_each_seed_and_stores_gains() -> None:
    spec = load_job_spec(SPEC)
    study = _study([("single_task", [0.70, 0.70]), ("mmoe", [0.80, 0.75])])
    calls: list[tuple[str, int]] = []

    def train(candidate: dict[str, Any], seed: int) -> dict[str, dict[str, float]]:
        calls.append((candidate["architecture"]["topology"], seed))
        noise = 0.001 * (seed % 3)
        return {"t1": {"auc": candidate["offset"] + noise},
                "t2": {"auc": candidate["offset"] + noise}}

    summary = run_confirmation(study, spec, train)
    assert sorted(calls) == sorted([(t, 10_000 + k) for t in ("single_task", "mmoe")
                                    for k in range(3)])
    assert study_attrs(study)[STUDY_CONFIRMATION_ATTR]["gains"] == summary["gains"]
    gains = {g["task"]: g for g in summary["gains"]}
    assert set(gains) == {"t1", "t2"} and summary["split"] == "test"
    assert gains["t1"]["gain"] == pytest.approx(0.10)
    assert gains["t1"]["within_noise"] is False and gains["t1"]["seeds"] == 3
    assert gains["t1"]["baseline_std"] == pytest.approx(0.001)
    mmoe = next(c for c in summary["candidates"] if c["topology"] == "mmoe")
    assert mmoe["test"]["t1"]["mean"] == pytest.approx(0.801)


def test_a_failed_seed_is_left_out_and_counted() -> None:
    spec = load_job_spec(SPEC)
    study = _study([("single_task", [0.70, 0.70]), ("mmoe", [0.80, 0.75])])

    def train(candidate: dict[str, Any], seed: int) -> dict[str, dict[str, float]]:
        if candidate["architecture"]["topology"] == "mmoe" and seed == 10_001:
            raise RuntimeError("out of memory")
        return {"t1": {"auc": candidate["offset"] + seed * 1e-5},
                "t2": {"auc": candidate["offset"]}}

    summary = run_confirmation(study, spec, train)
    assert {g["seeds"] for g in summary["gains"]} == {2}


def test_each_confirmation_run_is_announced_before_it_trains() -> None:
    spec = load_job_spec(SPEC)
    study = _study([("single_task", [0.70, 0.70]), ("mmoe", [0.80, 0.75])])
    events: list[tuple[Any, ...]] = []

    def train(candidate: dict[str, Any], seed: int) -> dict[str, dict[str, float]]:
        events.append(("train", candidate["architecture"]["topology"], seed))
        return {"t1": {"auc": candidate["offset"]}, "t2": {"auc": candidate["offset"]}}

    run_confirmation(study, spec, train,
                     on_run=lambda done, total, note: events.append(("run", done, total, note)))
    runs = [e for e in events if e[0] == "run"]
    assert [(done, total) for _, done, total, _ in runs] == [(k, 6) for k in range(7)]
    # each announcement comes right before its training and names the trial and seed
    for index, event in enumerate(events[:-1]):
        if event[0] == "run":
            trained = events[index + 1]
            assert trained[0] == "train" and f"({trained[1]}," in event[3]
            assert event[3].endswith(f"seed {trained[2] - 10_000 + 1}/3")
    assert events[-1] == ("run", 6, 6, "done")


def test_one_seed_is_refused() -> None:
    with pytest.raises(JobSpecError, match=r"confirm\.seeds: a gain interval needs"):
        load_job_spec({**SPEC, "confirm": {"seeds": 1}})


def test_a_cancel_stops_confirming_at_once_and_stores_nothing() -> None:
    spec = load_job_spec(SPEC)
    study = _study([("single_task", [0.70, 0.70]), ("mmoe", [0.80, 0.75])])
    calls: list[int] = []
    cancelled = {"now": False}

    def train(candidate: dict[str, Any], seed: int) -> dict[str, dict[str, float]]:
        calls.append(seed)
        cancelled["now"] = True  # the job is cancelled while this training runs
        return {"t1": {"auc": 0.7}, "t2": {"auc": 0.7}}

    messages: list[str] = []
    summary = run_confirmation(study, spec, train, on_progress=messages.append,
                               should_stop=lambda: cancelled["now"])
    assert summary is None and calls == [10_000]  # no second training started
    assert STUDY_CONFIRMATION_ATTR not in study_attrs(study)
    assert messages[-1] == "confirmation cancelled: nothing stored"


def test_a_cancel_raised_inside_a_training_is_not_counted_as_a_failed_seed() -> None:
    from automtl.search.confirm import ConfirmationCancelled

    spec = load_job_spec(SPEC)
    study = _study([("single_task", [0.70, 0.70]), ("mmoe", [0.80, 0.75])])
    calls: list[int] = []

    def train(candidate: dict[str, Any], seed: int) -> dict[str, dict[str, float]]:
        calls.append(seed)
        if len(calls) == 2:
            raise ConfirmationCancelled("cancelled after epoch 1")
        return {"t1": {"auc": 0.7}, "t2": {"auc": 0.7}}

    assert run_confirmation(study, spec, train, should_stop=lambda: False) is None
    assert len(calls) == 2 and STUDY_CONFIRMATION_ATTR not in study_attrs(study)


def _pruned(study: optuna.Study, topology: str, rungs: dict[str, dict[str, float]],
            epoch: int, **attrs: Any) -> int:
    from automtl.trial_record import ATTR_PRUNED_EPOCH, ATTR_RUNGS

    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr(ATTR_CANDIDATE, {"architecture": {"topology": topology},
                                         "offset": 0.6})
    trial.set_user_attr(ATTR_RUNGS, rungs)
    trial.set_user_attr(ATTR_PRUNED_EPOCH, epoch)
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return trial.number


def test_a_pruned_single_task_is_the_baseline_when_none_finished() -> None:
    """The demo's case: MO-ASHA cut off every single-task trial. The best pruned one (deepest
    rung first) is re-trained at full epochs as the baseline, and the summary says so."""
    from automtl.trial_record import ATTR_INFEASIBLE

    spec = load_job_spec(SPEC)
    study = _study([("mmoe", [0.80, 0.75]), ("ple", [0.72, 0.90])])
    keys = [o.result_key for o in spec.objective_list()]
    shallow = _pruned(study, "single_task", {"1": dict.fromkeys(keys, 0.9)}, 1)
    deep = _pruned(study, "single_task", {"1": dict.fromkeys(keys, 0.5),
                                          "3": dict.fromkeys(keys, 0.6)}, 3)
    _pruned(study, "single_task", {}, 0, **{ATTR_INFEASIBLE: "params_max"})
    _pruned(study, "mmoe", {"9": dict.fromkeys(keys, 0.99)}, 9)
    chosen = {c["trial"]: c["roles"] for c in select_candidates(study, spec)}
    assert chosen[deep] == ["single_task"] and shallow not in chosen
    trained: list[str] = []

    def train(candidate: dict[str, Any], seed: int) -> dict[str, dict[str, float]]:
        trained.append(candidate["architecture"]["topology"])
        return {"t1": {"auc": candidate["offset"]}, "t2": {"auc": candidate["offset"]}}

    summary = run_confirmation(study, spec, train)
    assert summary["baseline_trial"] == deep and summary["baseline_pruned_epoch"] == 3
    assert trained.count("single_task") == 3 and summary["gains"]
    from automtl.report.html import _confirmed_gain_section

    note, _ = _confirmed_gain_section(summary, [{"name": "t1", "metric": "auc",
                                                 "direction": "maximize"}])
    assert f"trial {deep}, which early stopping cut at epoch 3" in note
    assert "no baseline" not in note


@pytest.mark.parametrize(("topologies", "failed", "reason"), [
    (["mmoe", "ple"], 0, "the search space has no single_task topology: add single_task"),
    (["single_task", "mmoe"], 0, "no single_task trial was run (the budget ended"),
    (["single_task", "mmoe"], 2, "all 2 single_task trial(s) failed"),
])
def test_without_any_baseline_the_summary_names_the_real_cause(
        topologies: list[str], failed: int, reason: str) -> None:
    choose = {t: {} for t in topologies}
    spec = load_job_spec({**SPEC, "search_space": {"topology": {"choose": choose}}})
    study = _study([("mmoe", [0.80, 0.75])])
    for _ in range(failed):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        trial.set_user_attr(ATTR_CANDIDATE, {"architecture": {"topology": "single_task"}})
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    summary = run_confirmation(
        study, spec, lambda c, s: {"t1": {"auc": 0.7}, "t2": {"auc": 0.7}})
    assert summary["baseline_trial"] is None and summary["baseline_missing"].startswith(reason)
    from automtl.report.html import _confirmed_gain_section

    note, _ = _confirmed_gain_section(summary, [{"name": "t1", "metric": "auc",
                                                 "direction": "maximize"}])
    assert reason in note
