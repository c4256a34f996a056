"""A whole search with coverage, MO-ASHA, confirmation, a fingerprint and a warm start
(the folder's one local Ray; tiny synthetic data)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from automtl.search import SearchCallbacks, Stage, run_search
from automtl.search.confirm import confirmation_of
from automtl.search.coverage import ATTR_COVERAGE
from automtl.search.study import SpecChangedError, open_storage
from automtl.search.warm_start import ATTR_WARM_START
from automtl.trial_record import (
    ATTR_CANDIDATE,
    ATTR_PRUNED_EPOCH,
    ATTR_RUNGS,
    outcome_from_trial,
    stored_attrs,
)

pytestmark = pytest.mark.slow

SPACE = {
    "topology": {"choose": {"single_task": {}, "shared_bottom": {"bottom_units": [8]},
                            "mmoe": {"experts": {"int": [2, 3]}}}},
    "architecture": {"expert_units": [8], "tower_units": [8], "embedding_dim": 4},
    "weighting": {"choose": {"equal": {}, "uncertainty": {}, "dwa": {}}},
    "optimizer": {"lr": {"float": [1e-4, 3e-2], "log": True}, "batch_size": 256, "epochs": 4},
}


def make_spec(name: str, trials: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "seed": 5,
            "dataset": {"builtin": "synthetic", "rows": 1500, "features": 8},
            "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}],
            "search_space": SPACE, "budget": {"trials": trials, "concurrency": 2},
            **extra}


@pytest.fixture(scope="module")
def searched(local_ray: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("stages")
    spec = make_spec("stages", 10, scheduler={"name": "mo_asha", "grace_epochs": 1,
                                              "reduction_factor": 2},
                     confirm={"seeds": 2})
    stages = StageLog()
    from automtl.search import runner

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "CONFIRM_EPOCH_LINE_S", 0.0)  # every epoch's line, to check them
        result = run_search(spec, stages, artifact_dir=out)
    study = optuna.load_study(study_name=result.study_name,
                              storage=open_storage(result.storage_url))
    return {"result": result, "study": study, "out": out, "spec": spec, "stages": stages.seen}


class StageLog(SearchCallbacks):
    def __init__(self) -> None:
        self.seen: list[Stage] = []

    def on_stage(self, stage: Stage) -> None:
        self.seen.append(stage)


def test_the_callbacks_hear_each_stage_and_each_confirmation_run(
        searched: dict[str, Any]) -> None:
    """The confirmation re-trains for minutes after the trial bar is full: each of its runs is
    announced (the CLI prints a line, the worker stores the job's stage)."""
    seen = searched["stages"]
    assert [s.name for s in seen if s.name != "confirming"] == ["preparing", "searching",
                                                                "reporting"]
    # a line per epoch inside a run (the demo's runs were minutes apart): "..., epoch 1/3
    # done" between the run's own announcement and the next one
    epochs = [s for s in seen if s.name == "confirming" and ", epoch " in (s.note or "")]
    assert epochs and all(re.search(r"seed \d/2, epoch \d+/\d+ done$", s.note or "")
                          for s in epochs)
    confirming = [s for s in seen if s.name == "confirming" and s not in epochs]
    candidates = confirmation_of(searched["study"])["candidates"]
    total = len(candidates) * 2
    assert [(s.done, s.total) for s in confirming] == [(k, total) for k in range(total + 1)]
    assert {s.note.split(" (")[0] for s in confirming[:-1]} == {
        f"trial {c['trial']}" for c in candidates}
    assert [s.name for s in seen].index("confirming") > [s.name for s in seen].index("searching")


def _topology(trial: optuna.trial.FrozenTrial) -> str:
    return stored_attrs(trial)[ATTR_CANDIDATE]["architecture"]["topology"]


def test_first_trials_cover_every_topology_and_single_task_has_no_weighting(
        searched: dict[str, Any]) -> None:
    study = searched["study"]
    first = [t for t in study.trials if stored_attrs(t).get(ATTR_COVERAGE)]
    assert searched["result"].coverage_trials == len(first) == 4
    assert {_topology(t) for t in first} == {"single_task", "shared_bottom", "mmoe"}
    shared = [t for t in first if _topology(t) != "single_task"]
    assert {t.params["weighting"] for t in shared} == {"equal", "uncertainty", "dwa"}
    for trial in study.trials:
        if _topology(trial) == "single_task":
            assert "weighting" not in trial.params
            assert stored_attrs(trial)[ATTR_CANDIDATE]["weighting"]["name"] == "equal"
    topologies = searched["result"].topologies
    assert set(topologies) == {"single_task", "shared_bottom", "mmoe"}
    assert sum(v["trials"] for v in topologies.values()) == len(study.trials)


def test_mo_asha_prunes_and_the_budget_counts_complete_plus_pruned(
        searched: dict[str, Any]) -> None:
    study = searched["study"]
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert pruned, "with eta=2 and 10 trials some trial loses at a rung"
    assert len(pruned) + len(complete) == 10 == searched["result"].complete
    for trial in pruned:
        epoch = stored_attrs(trial)[ATTR_PRUNED_EPOCH]
        assert epoch in (1, 2)
        rungs = stored_attrs(trial)[ATTR_RUNGS]
        assert str(epoch) in rungs and set(rungs[str(epoch)]) == {"objective/t1",
                                                                  "objective/t2"}
        outcome = outcome_from_trial(trial, ["t1", "t2"])
        assert outcome.state == "PRUNED" and outcome.pruned_epoch == epoch
        assert outcome.valid  # the metrics of the epoch it reached
    assert any(ATTR_RUNGS in stored_attrs(t) for t in complete)
    assert not any(ATTR_PRUNED_EPOCH in stored_attrs(t) for t in complete)
    # the job spec's default scheduler.coverage: first_rung: the coverage start-up trials
    # train to the first rung (epoch 1) and stop there, their values on record
    coverage = [t for t in study.trials if stored_attrs(t).get(ATTR_COVERAGE)]
    assert "coverage" not in searched["spec"]["scheduler"]
    assert [stored_attrs(t).get(ATTR_PRUNED_EPOCH) for t in coverage] == [1] * len(coverage)
    assert all(t.state == TrialState.PRUNED for t in coverage)


def test_confirmation_scores_the_front_and_baseline_on_test_with_seeds(
        searched: dict[str, Any]) -> None:
    confirmation = confirmation_of(searched["study"])
    assert confirmation is not None and confirmation["seeds"] == 2
    assert confirmation["split"] == "test"
    roles = {r for c in confirmation["candidates"] for r in c["roles"]}
    assert "front" in roles
    front = {t.number for t in searched["study"].best_trials}
    assert front <= {c["trial"] for c in confirmation["candidates"]}
    for candidate in confirmation["candidates"]:
        for task in ("t1", "t2"):
            assert len(candidate["test"][task]["values"]) == 2
    if confirmation["baseline_trial"] is not None:
        for gain in confirmation["gains"]:
            assert gain["ci_low"] <= gain["gain"] <= gain["ci_high"]
            assert isinstance(gain["within_noise"], bool)
    from automtl.jobspec import load_job_spec
    from automtl.report.html import report_from_study

    page = report_from_study(searched["study"], load_job_spec(searched["spec"]))
    assert 'id="confirmed"' in page and "test split" in page


def test_a_changed_spec_with_the_same_name_is_an_error_in_the_cli(
        searched: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from automtl.cli import main

    changed = dict(searched["spec"], budget={"trials": 10, "concurrency": 2, "epochs": 2})
    path = searched["out"] / "changed.yaml"
    path.write_text(yaml.safe_dump(changed))
    with pytest.raises(SpecChangedError, match=r"budget\.epochs \(was null, now 2\)"):
        run_search(changed, artifact_dir=searched["out"])
    assert main(["search", str(path), "--out", str(searched["out"])]) == 2
    assert "budget.epochs (was null, now 2)" in capsys.readouterr().err


def test_warm_start_enqueues_the_earlier_front_first(searched: dict[str, Any],
                                                     tmp_path: Path) -> None:
    spec = make_spec("warm", 3, warm_start={"directory": str(searched["out"])})
    result = run_search(spec, artifact_dir=tmp_path)
    study = optuna.load_study(study_name=result.study_name,
                              storage=open_storage(result.storage_url))
    front = sorted(searched["study"].best_trials, key=lambda t: t.number)
    warm = [t for t in study.trials if stored_attrs(t).get(ATTR_WARM_START)]
    expected = [t.params for t in front][:3]
    assert [t.params for t in warm][:len(expected)] == expected
    assert [t.number for t in warm] == list(range(len(warm)))  # first in line
    assert json.loads(json.dumps(result.warm_started)) == [t.number for t in front]


def test_a_cancel_during_confirmation_stops_it_and_stores_none(
        local_ray: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The job is cancelled as its first confirmation training starts: that training stops at
    its first epoch's check, no other starts, nothing of the confirmation is stored and the
    search reports itself cancelled."""
    from automtl.search import SearchCallbacks, runner

    started: list[int] = []
    threads: list[int] = []
    original = runner._confirm_one

    def confirm_one(candidate: dict[str, Any], seed: int, **kwargs: Any) -> Any:
        started.append(seed)  # from here on the job counts as cancelled
        threads.append(kwargs["threads"])
        return original(candidate, seed, **kwargs)

    monkeypatch.setattr(runner, "_confirm_one", confirm_one)

    class CancelOnceConfirming(SearchCallbacks):
        def should_stop(self) -> bool:
            return bool(started)

    spec = make_spec("cancel-confirm", 3, confirm={"seeds": 3})
    result = run_search(spec, CancelOnceConfirming(), artifact_dir=tmp_path)
    study = optuna.load_study(study_name=result.study_name,
                              storage=open_storage(result.storage_url))
    assert result.complete == 3 and result.stop_reason == "cancelled"
    assert len(started) == 1  # 3 seeds x (front + baseline) would have been trained
    # a confirmation run trains with one search trial's threads (cpus_per_trial: 1), not
    # every core of the machine (10-24x slower on 2 loaded cores: benchmarks/README.md)
    assert threads == [1]
    assert result.confirmation is None and confirmation_of(study) is None
