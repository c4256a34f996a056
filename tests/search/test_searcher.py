"""AutoMTLOptunaSearch without Ray: how results, failures, constraints and the budget reach the
Optuna study."""

from __future__ import annotations

import math
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from ray.tune.search import Searcher

from automtl.jobspec import Constraints, Objective
from automtl.search.searcher import AutoMTLOptunaSearch
from automtl.search.study import open_storage
from automtl.trial_record import (
    ATTR_CANDIDATE,
    ATTR_ERROR,
    ATTR_INTERRUPTED,
    ATTR_PARAMS,
    ATTR_TEST,
    ATTR_VALID,
    stored_attrs,
)

OBJECTIVES = [Objective(name="t1", direction="maximize", metric="auc"),
              Objective(name="t2", direction="minimize", metric="logloss")]


def space(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    return {"train": {"lr": trial.suggest_float("optimizer/lr", 1e-4, 1e-1, log=True)}}


def make_searcher(tmp_path: Any, budget: int = 3, max_failures: int = 5,
                  lookup: Any = None) -> AutoMTLOptunaSearch:
    return AutoMTLOptunaSearch(
        space, OBJECTIVES, sampler=optuna.samplers.RandomSampler(seed=0), study_name="s",
        storage=open_storage(f"sqlite:///{tmp_path / 'optuna.db'}"), budget_trials=budget,
        max_failures=max_failures, constraints=Constraints(params_max=1000),
        error_lookup=lookup)


def final(t1: float = 0.7, t2: float = 0.5, params: int = 10) -> dict[str, Any]:
    return {"automtl/final": True, "objective/t1": t1, "objective/t2": t2,
            "valid/t1/auc": t1, "valid/t2/logloss": t2, "test/t1/auc": t1 - 0.01,
            "test/t2/logloss": t2 + 0.01, "cost/params": params, "cost/latency_ms": 0.5,
            "train_time_s": 1.0, "epochs_trained": 2, "artifact": "/a/trial-0",
            "gate_utilisation/t1": [0.25, 0.75], "gate_utilisation/t2": [0.5, 0.5]}


def test_suggestion_carries_number_params_and_candidate(tmp_path: Any) -> None:
    searcher = make_searcher(tmp_path)
    config = searcher.suggest("a")
    info = config["automtl"]
    trial = searcher.study.trials[0]
    assert info["number"] == 0 == searcher.number_of("a")
    assert info["params"] == trial.params
    assert info["candidate"] == {"train": {"lr": trial.params["optimizer/lr"]}}
    assert stored_attrs(trial)[ATTR_CANDIDATE] == info["candidate"]


def test_complete_result_is_told_with_values_records_and_constraint(tmp_path: Any) -> None:
    searcher = make_searcher(tmp_path)
    searcher.suggest("a")
    searcher.on_trial_complete("a", final(params=1500))
    trial = searcher.study.trials[0]
    assert trial.state == TrialState.COMPLETE
    assert trial.values == [0.7, 0.5]
    assert stored_attrs(trial)[ATTR_VALID] == {"t1": {"auc": 0.7}, "t2": {"logloss": 0.5}}
    assert stored_attrs(trial)[ATTR_TEST]["t1"]["auc"] == pytest.approx(0.69)
    assert stored_attrs(trial)[ATTR_PARAMS] == 1500
    assert stored_attrs(trial)["automtl:gate_utilisation"] == {"t1": [0.25, 0.75],
                                                           "t2": [0.5, 0.5]}
    assert trial.constraints == {"params_max": 500.0}  # params - params_max > 0: infeasible
    assert searcher.complete_trials == 1


def test_infeasible_trial_is_kept_off_the_front(tmp_path: Any) -> None:
    searcher = make_searcher(tmp_path)
    searcher.suggest("a")
    searcher.on_trial_complete("a", final(t1=0.9, t2=0.1, params=5000))  # dominates, too big
    searcher.suggest("b")
    searcher.on_trial_complete("b", final(t1=0.6, t2=0.6, params=10))
    assert [t.number for t in searcher.study.best_trials] == [1]


@pytest.mark.parametrize(("result", "error", "reason"), [
    ({"automtl/final": True, "automtl/error": "ValueError: boom", "objective/t1": math.nan,
      "objective/t2": math.nan}, False, "ValueError: boom"),
    (final(t1=math.nan), False, "not a finite number"),
    (None, True, "worker died: OOM"),
])
def test_failures_are_told_fail_with_their_error(tmp_path: Any, result: Any, error: bool,
                                                 reason: str) -> None:
    searcher = make_searcher(tmp_path, lookup=lambda trial_id: "worker died: OOM")
    searcher.suggest("a")
    searcher.on_trial_complete("a", result, error=error)
    trial = searcher.study.trials[0]
    assert trial.state == TrialState.FAIL
    assert reason in stored_attrs(trial)[ATTR_ERROR]
    assert ATTR_INTERRUPTED not in stored_attrs(trial)
    assert searcher.failures_this_run == 1 and searcher.complete_trials == 0


def test_a_trial_stopped_before_its_final_report_is_interrupted(tmp_path: Any) -> None:
    searcher = make_searcher(tmp_path)
    searcher.suggest("a")
    epoch_result = {"automtl/final": False, "objective/t1": 0.6, "objective/t2": 0.6}
    searcher.on_trial_complete("a", epoch_result)
    trial = searcher.study.trials[0]
    assert trial.state == TrialState.FAIL
    assert stored_attrs(trial)[ATTR_INTERRUPTED] is True
    assert "interrupted" in stored_attrs(trial)[ATTR_ERROR]
    assert searcher.failures_this_run == 0  # not the candidate's fault


def test_budget_counts_complete_trials_and_waits_for_running_ones(tmp_path: Any) -> None:
    searcher = make_searcher(tmp_path, budget=2)
    assert searcher.suggest("a") is not None
    assert searcher.suggest("b") is not None
    assert searcher.suggest("c") is None            # 2 running: wait, one may fail
    searcher.on_trial_complete("a", {"automtl/final": True, "automtl/error": "x"})
    assert searcher.suggest("c") is not None        # the failure is replaced
    searcher.on_trial_complete("b", final())
    searcher.on_trial_complete("c", final())
    assert searcher.suggest("d") == Searcher.FINISHED
    # A new searcher on the same study sees the budget already spent.
    assert make_searcher(tmp_path, budget=2).suggest("e") == Searcher.FINISHED
    assert make_searcher(tmp_path, budget=3).suggest("e") is not None


def test_max_failures_ends_the_run(tmp_path: Any) -> None:
    searcher = make_searcher(tmp_path, budget=5, max_failures=1)
    searcher.suggest("a")
    searcher.suggest("b")
    searcher.on_trial_complete("a", {"automtl/final": True, "automtl/error": "x"})
    assert searcher.suggest("c") is None            # b still running
    searcher.on_trial_complete("b", final())
    assert searcher.suggest("c") == Searcher.FINISHED
    assert searcher.stop_reason == "max_failures"


def test_tune_checkpoint_is_tiny_and_restore_is_refused(tmp_path: Any) -> None:
    searcher = make_searcher(tmp_path)
    path = tmp_path / "ckpt"
    searcher.save(str(path))
    assert path.read_text() == '{"study_name": "s"}'
    with pytest.raises(NotImplementedError, match="run_search"):
        searcher.restore(str(path))


def test_results_reach_either_database_backend(database_url: str) -> None:
    searcher = AutoMTLOptunaSearch(
        space, OBJECTIVES, sampler=optuna.samplers.RandomSampler(seed=0), study_name="db",
        storage=open_storage(database_url), budget_trials=1, max_failures=1,
        constraints=Constraints(params_max=1000))
    searcher.suggest("a")
    searcher.on_trial_complete("a", final(params=10))
    reloaded = optuna.load_study(study_name="db", storage=open_storage(database_url))
    (trial,) = reloaded.trials
    assert trial.state == TrialState.COMPLETE and trial.values == [0.7, 0.5]
    assert trial.constraints == {"params_max": -990.0}
    assert [t.number for t in reloaded.best_trials] == [0]


def test_learning_curve_joins_rung_reports_and_the_final_epoch_log(tmp_path: Any) -> None:
    """Epochs between reports arrive in the next report's epoch log; each is stored once."""
    searcher = make_searcher(tmp_path)
    searcher.suggest("a")

    def epoch(n: int, auc: float) -> dict[str, Any]:
        return {"epoch": n, "train_time_s": 0.1 * n, "valid/t1/auc": auc,
                "valid/t2/logloss": 1.0 - auc}

    rung = {**epoch(2, 0.62), "automtl/final": False,
            "automtl/epochs": [epoch(1, 0.6), epoch(2, 0.62)]}
    searcher.on_trial_result("a", rung)
    done = {**final(), "automtl/epochs": [epoch(3, 0.65), epoch(4, 0.7)]}
    searcher.on_trial_result("a", done)  # Tune passes the final result here too
    searcher.on_trial_complete("a", done)
    curve = stored_attrs(searcher.study.trials[0])["automtl:learning_curve"]
    assert curve["epoch"] == [1, 2, 3, 4]
    assert curve["t1/auc"] == [0.6, 0.62, 0.65, 0.7]
    assert curve["t2/logloss"] == pytest.approx([0.4, 0.38, 0.35, 0.3])
