"""The trainable without Ray: one candidate trained, reported, saved; failures become results."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from automtl.config import ModelConfig
from automtl.jobspec import load_job_spec
from automtl.models.registry import build_model
from automtl.search.datasets import load_dataset
from automtl.search.testing import FailureInjection, InjectedFailure
from automtl.search.trainable import (
    TrialContext,
    failure_result,
    run_trial,
    trial_candidate,
    unflatten_metrics,
)

CANDIDATE = {
    "architecture": {"topology": "mmoe", "num_shared_experts": 2, "expert_units": [8],
                     "tower_units": [8], "embedding_dim": 4},
    "weighting": {"name": "equal", "params": {}},
    "train": {"lr": 0.01, "batch_size": 256, "epochs": 5},
}


def _context(tmp_path: Path, injection: FailureInjection | None = None,
             **overrides: Any) -> TrialContext:
    spec = load_job_spec({
        "name": "tr", "dataset": {"builtin": "synthetic", "rows": 1000, "features": 6},
        "tasks": [{"name": "t1", "label": "y1"},
                  {"name": "t2", "label": "y2", "metric": "logloss"}],
        "objectives": ["t1", "t2", "params"], "budget": {"epochs": 2}, **overrides})
    data = load_dataset(spec.dataset, spec.tasks, spec.seed)
    return TrialContext(spec=spec, inputs=data.schema, train=data.train, valid=data.valid,
                        test=data.test, artifact_root=str(tmp_path),
                        failure_injection=injection)


def test_trial_reports_each_epoch_and_a_complete_final_result(tmp_path: Path) -> None:
    context = _context(tmp_path)
    reports: list[dict[str, Any]] = []
    result = run_trial(CANDIDATE, 3, context, reports.append)
    # budget.epochs (2) overrides the candidate's 5 epochs; without a scheduler no epoch is
    # reported on its own: the final result carries every epoch's record
    assert reports == [] and result["epochs_trained"] == 2
    log = result["automtl/epochs"]
    assert [e["epoch"] for e in log] == [1, 2]
    assert all("valid/t1/auc" in e and e["train_time_s"] > 0 for e in log)
    assert log[0]["train_time_s"] < log[1]["train_time_s"] <= result["train_time_s"] + 1e-9
    assert result["automtl/final"] is True
    nested = unflatten_metrics(result)
    assert set(nested["valid"]) == {"t1", "t2"} and set(nested["test"]) == {"t1", "t2"}
    assert result["objective/t1"] == nested["valid"]["t1"]["auc"]
    assert result["objective/t2"] == nested["valid"]["t2"]["logloss"]
    assert result["objective/params"] == result["cost/params"] > 0
    assert result["cost/latency_ms"] > 0 and result["train_time_s"] > 0
    for task in ("t1", "t2"):  # mmoe with 2 experts: each task's mean gate weights sum to 1
        weights = result[f"gate_utilisation/{task}"]
        assert len(weights) == 2 and sum(weights) == pytest.approx(1.0)


def test_saved_weights_rebuild_the_evaluated_model(tmp_path: Path) -> None:
    context = _context(tmp_path)
    result = run_trial(CANDIDATE, 0, context, lambda _: None)
    directory = Path(result["artifact"])
    assert directory == tmp_path / "trial-0"
    config = ModelConfig.model_validate(json.loads((directory / "model_config.json").read_text()))
    model = build_model(config)
    state = torch.load(directory / "model.pt")
    model.load_state_dict(state, strict=True)
    from automtl.training.inference import predict
    from automtl.training.metrics import split_metrics

    model.eval()
    metrics = split_metrics(predict(model, context.valid, torch.device("cpu"), False),
                            context.valid, context.spec.tasks)
    assert metrics["t1"]["auc"] == pytest.approx(result["valid/t1/auc"])
    candidate = json.loads((directory / "candidate.json").read_text())
    assert candidate["train"]["epochs"] == 2 and candidate["architecture"]["topology"] == "mmoe"


def test_injected_failure_raises_after_the_given_epoch(tmp_path: Path) -> None:
    context = _context(tmp_path, FailureInjection(fail_topologies=["mmoe"], after_epochs=1))
    reports: list[dict[str, Any]] = []
    with pytest.raises(InjectedFailure, match="mmoe"):
        run_trial(CANDIDATE, 0, context, reports.append)
    assert reports == []  # raised in the first epoch's callback, before its report
    other = {**CANDIDATE, "architecture": {**CANDIDATE["architecture"],
                                           "topology": "shared_bottom"}}
    assert run_trial(other, 1, context, reports.append)["automtl/final"] is True


def test_non_finite_objectives_fail_the_trial(tmp_path: Path) -> None:
    context = _context(tmp_path, FailureInjection(fail_topologies=["mmoe"], mode="nan"))
    with pytest.raises(FloatingPointError, match="non-finite"):
        run_trial(CANDIDATE, 0, context, lambda _: None)
    assert not (tmp_path / "trial-0").exists()  # nothing saved for a failed trial


def test_failure_result_carries_the_error_and_nan_objectives(tmp_path: Path) -> None:
    spec = _context(tmp_path).spec
    try:
        raise MemoryError("out of memory")
    except MemoryError as exc:
        result = failure_result(spec, exc)
    assert result["automtl/final"] is True
    assert result["automtl/error"].startswith("MemoryError: out of memory")
    assert "Traceback" in result["automtl/error"]
    assert all(math.isnan(result[f"objective/{n}"]) for n in ("t1", "t2", "params"))


def test_trial_candidate_applies_epochs_and_seed(tmp_path: Path) -> None:
    spec = _context(tmp_path).spec
    candidate = trial_candidate(CANDIDATE, spec, number=7)
    assert candidate.train.epochs == 2 and candidate.train.seed == spec.seed + 7


def test_a_cancel_stops_a_confirmation_training_at_its_next_batch(tmp_path: Path) -> None:
    from automtl.search.confirm import ConfirmationCancelled
    from automtl.search.trainable import train_for_confirmation

    context = _context(tmp_path)
    polls: list[int] = []

    def should_stop() -> bool:
        polls.append(1)
        return True

    with pytest.raises(ConfirmationCancelled, match="in epoch 1 before the batch at row 0"):
        train_for_confirmation(dict(CANDIDATE), 7, context, should_stop)
    assert len(polls) == 1  # checked before the first batch of 5 epochs, then stopped
    # without a cancel the same call trains all its epochs and scores the test split
    metrics = train_for_confirmation(dict(CANDIDATE), 7, context, lambda: False)
    assert set(metrics) == {"t1", "t2"}


def test_with_mo_asha_a_trial_reports_at_the_rungs_with_the_epochs_between(
        tmp_path: Path) -> None:
    context = _context(tmp_path, budget={"epochs": 5},
                       scheduler={"name": "mo_asha", "grace_epochs": 1, "reduction_factor": 2})
    reports: list[dict[str, Any]] = []
    result = run_trial(CANDIDATE, 3, context, reports.append)
    # rungs 1, 2, 4 below 5 epochs: a report at each, carrying the epochs since the last one
    assert [r["epoch"] for r in reports] == [1, 2, 4]
    assert all(not r["automtl/final"] and "objective/t1" in r and r["epochs_total"] == 5
               for r in reports)
    assert [[e["epoch"] for e in r["automtl/epochs"]] for r in reports] == [[1], [2], [3, 4]]
    assert [e["epoch"] for e in result["automtl/epochs"]] == [5]


def test_confirmation_trains_the_candidate_as_its_trial_did(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same epochs and the batch size fitted to the train rows (a sampled 2048 on 800 train
    rows would give one update per epoch); only the seed differs."""
    from automtl.search.trainable import fit_batch_size, train_for_confirmation
    from automtl.training import trainer as trainer_module

    seen: list[Any] = []
    original = trainer_module.Trainer.__init__

    def spy(self: Any, model: Any, weighting: Any, config: Any, *args: Any) -> None:
        seen.append(config.model_copy())
        original(self, model, weighting, config, *args)

    monkeypatch.setattr(trainer_module.Trainer, "__init__", spy)
    context = _context(tmp_path)
    big = {**CANDIDATE, "train": {**CANDIDATE["train"], "batch_size": 2048}}
    reports: list[dict[str, Any]] = []
    run_trial(big, 3, context, reports.append)
    train_for_confirmation(big, 11, context)
    searched, confirmed = seen
    assert confirmed.batch_size == searched.batch_size == fit_batch_size(2048, len(context.train))
    assert confirmed.batch_size < 2048
    assert confirmed.epochs == searched.epochs == 2 and confirmed.seed == 11


def test_a_raised_stop_signal_ends_a_trial_at_its_next_batch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The search stopped (a cancel) while the trial trained: the driver raised the run's stop
    signal (here from the rung report after epoch 1); the trial ends before the next batch,
    in epoch 2, without a final result, and ``train_candidate`` reports nothing more."""
    from automtl.search.stop_signal import StopSignal
    from automtl.search.trainable import train_candidate
    from automtl.training.result import TrainingInterrupted

    signal = StopSignal(str(tmp_path / "signals"), poll_s=0.0)  # read before every batch
    context = _context(tmp_path, budget={"epochs": 5},
                       scheduler={"name": "mo_asha", "grace_epochs": 1, "reduction_factor": 2})
    context = TrialContext(**{**context.__dict__, "stop_signal": signal})
    reports: list[dict[str, Any]] = []

    def report(result: dict[str, Any]) -> None:
        reports.append(result)
        signal.raise_()  # as CancelStopper's on_stop does in the driver

    with pytest.raises(TrainingInterrupted, match="in epoch 2 before the batch at row 0"):
        run_trial(CANDIDATE, 3, context, report)
    assert [r["epoch"] for r in reports] == [1]
    assert not (tmp_path / "trial-3").exists()  # no weights saved for an interrupted trial

    # through Ray Tune's function trainable: it returns without a report once interrupted
    from ray import tune

    from automtl.search import orphans

    reported: list[dict[str, Any]] = []
    monkeypatch.setattr(tune, "report", reported.append)
    monkeypatch.setattr(orphans, "exit_when_orphaned", lambda: False)
    train_candidate({"automtl": {"candidate": CANDIDATE, "number": 4}}, context)
    assert reported == []  # the signal is still raised: it stopped before its first batch
    assert not (tmp_path / "trial-4").exists()


def test_stop_signals_are_per_run_on_a_path_and_on_a_url(tmp_path: Path) -> None:
    from automtl.search.stop_signal import StopSignal

    for root in (str(tmp_path / "local"), "memory://automtl-stop-test/study"):
        mine, other = StopSignal(root, poll_s=0.0), StopSignal(root, poll_s=0.0)
        assert not mine.is_raised() and not other.is_raised()
        mine.raise_()
        # another run of the same study (a worker that took the job over) is not stopped
        assert StopSignal(root, token=mine.token, poll_s=0.0).is_raised()
        assert not other.is_raised()
        mine.clear()
        assert not StopSignal(root, token=mine.token, poll_s=0.0).is_raised()
        mine.clear()  # clearing twice is fine


def test_a_trial_paused_at_a_rung_resumes_from_its_checkpoint_like_an_unpaused_one(
        tmp_path: Path) -> None:
    """MO-ASHA's pause rule end to end without Ray: the scheduler pauses the trial at rung 1,
    the checkpoint passed with that report is saved to disk and loaded, and the resumed trial
    trains epochs 2-5 only and ends with the uninterrupted trial's weights and values."""
    from ray.tune.schedulers import TrialScheduler

    from automtl.search.mo_asha import MOASHAScheduler
    from automtl.training import StopTraining

    context = _context(tmp_path, budget={"epochs": 5},
                       scheduler={"name": "mo_asha", "grace_epochs": 1, "reduction_factor": 3})
    whole = run_trial(CANDIDATE, 4, context, lambda result, **_: None, checkpoint=True)
    whole_weights = torch.load(Path(whole["artifact"]) / "model.pt")  # the same folder later

    scheduler = MOASHAScheduler(["objective/t1", "objective/t2"], ["max", "min"],
                                grace_epochs=1, reduction_factor=3, promotion="pause")
    saved: dict[str, Any] = {}

    def report(result: dict[str, Any], checkpoint: Any = None) -> None:
        if scheduler.decide("4", result) == TrialScheduler.PAUSE:
            torch.save(checkpoint, tmp_path / "paused.pt")
            saved["epoch"] = result["epoch"]
            raise StopTraining

    run_trial(CANDIDATE, 4, context, report, checkpoint=True)
    assert saved == {"epoch": 1} and scheduler.paused() == ["4"]
    # two more trials reach rung 1 below it: the rung's top floor(3/3) = 1 is trial 4
    for number, worse in (("5", 0.1), ("6", 0.2)):
        scheduler.decide(number, {"epoch": 1, "epochs_total": 5, "objective/t1": worse,
                                  "objective/t2": 9.0})
    assert scheduler.next_promotion() == "4"
    state = torch.load(tmp_path / "paused.pt", weights_only=False)
    assert state.epoch == 1
    reports: list[dict[str, Any]] = []
    resumed = run_trial(CANDIDATE, 4, context, lambda result, **_: reports.append(result),
                        resume=state, checkpoint=True)
    assert [r["epoch"] for r in reports] == [3]  # rung 3 only: rung 1 is behind it
    assert [e["epoch"] for e in reports[0]["automtl/epochs"]] == [2, 3]
    assert resumed["epochs_trained"] == 5
    for key in ("objective/t1", "objective/t2", "valid/t1/auc", "test/t2/logloss"):
        assert resumed[key] == whole[key], key
    resumed_weights = torch.load(Path(resumed["artifact"]) / "model.pt")
    assert resumed_weights.keys() == whole_weights.keys()
    assert all(torch.equal(whole_weights[k], v) for k, v in resumed_weights.items())
