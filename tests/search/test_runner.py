"""Whole searches through Ray Tune on tiny synthetic data (the folder's one local Ray)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
from optuna.trial import TrialState

import search_spaces
from automtl.config import ModelConfig
from automtl.models.registry import build_model
from automtl.search import Progress, SearchCallbacks, TrialOutcome, run_search
from automtl.search.study import open_storage
from automtl.search.testing import FailureInjection
from automtl.trial_record import (
    ATTR_CANDIDATE,
    ATTR_CURVE,
    ATTR_ERROR,
    ATTR_RETRY_OF,
    MAX_SHOWN_CHARS,
    stored_attrs,
    study_attrs,
)

pytestmark = pytest.mark.slow

#: small, fast candidates; bottom_units make shared_bottom's size vary 10x (for constraints)
SPACE = {
    "topology": {"choose": {"shared_bottom": {"bottom_units": {"categorical": [[8], [64, 64]]}},
                            "mmoe": {"experts": {"int": [2, 3]}}}},
    "architecture": {"expert_units": [8], "tower_units": [8], "embedding_dim": 4},
    "weighting": {"choose": {"equal": {}, "uncertainty": {}}},
    "optimizer": {"lr": {"float": [3e-3, 3e-2], "log": True}, "batch_size": 256, "epochs": 1},
}
PARAMS_MAX = 1500


def make_spec(name: str, trials: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "seed": 3,
            "dataset": {"builtin": "synthetic", "rows": 2000, "features": 8},
            "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}],
            "objectives": ["t1", "t2"], "search_space": SPACE,
            "budget": {"trials": trials, "concurrency": 2}, **extra}


class Recorder(SearchCallbacks):
    """Records every call; holds a lock, so it cannot be pickled (nor need it be)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started: list[int] = []
        self.outcomes: list[TrialOutcome] = []
        self.progress: list[Progress] = []
        self.epochs: list[tuple[int, int]] = []

    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        self.started.append(number)

    def on_epoch(self, number: int, epoch: int, metrics: dict[str, float]) -> None:
        self.epochs.append((number, epoch))

    def on_trial_complete(self, outcome: TrialOutcome) -> None:
        self.outcomes.append(outcome)

    def on_progress(self, progress: Progress) -> None:
        self.progress.append(progress)


def enqueue(url: str, study_name: str, params: dict[str, Any]) -> None:
    """Put a candidate first in line (Optuna's enqueue_trial), as a user could."""
    study = optuna.create_study(storage=open_storage(url), study_name=study_name,
                                directions=["maximize", "maximize"], load_if_exists=True)
    study.enqueue_trial(params)


@pytest.fixture(scope="module")
def searched(local_ray: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """6 trials, concurrency 2, two objectives, params_max that the enqueued wide
    shared-bottom candidate exceeds."""
    out = tmp_path_factory.mktemp("search")
    url = f"sqlite:///{out / 'optuna.db'}"
    enqueue(url, "automtl-e2e", {"topology": "shared_bottom", "weighting": "equal",
                                 "shared_bottom/bottom_units": "64-64", "optimizer/lr": 0.01})
    recorder = Recorder()
    spec = make_spec("e2e", 6, constraints={"params_max": PARAMS_MAX})
    result = run_search(spec, recorder, storage_url=url, artifact_dir=out)
    study = optuna.load_study(study_name=result.study_name, storage=open_storage(url))
    return {"result": result, "study": study, "recorder": recorder, "spec": spec}


def test_search_finishes_its_budget(searched: dict[str, Any]) -> None:
    result, study = searched["result"], searched["study"]
    assert result.complete == 6 and result.stop_reason == "budget"
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 6
    assert len({t.number for t in complete}) == 6


def test_front_is_the_studys_best_trials(searched: dict[str, Any]) -> None:
    front, study = searched["result"].front, searched["study"]
    assert [t["number"] for t in front["trials"]] == sorted(t.number for t in study.best_trials)
    assert front["objectives"] == [{"name": "t1", "direction": "maximize", "metric": "auc"},
                                   {"name": "t2", "direction": "maximize", "metric": "auc"}]
    assert front["reference_point"] == {"t1": 0.5, "t2": 0.5}
    assert front["hypervolume"] > 0
    for entry in front["trials"]:
        trial = study.trials[entry["number"]]
        assert entry["values"] == {"t1": trial.values[0], "t2": trial.values[1]}
        assert entry["candidate"] == stored_attrs(trial)[ATTR_CANDIDATE]


def test_the_study_reads_well_in_optuna_dashboard(searched: dict[str, Any]) -> None:
    """What optuna-dashboard shows (issue 21): the study's and every trial's user attributes,
    each value short (no 5,790 px trial page), the candidate flattened per key, the metric
    names and a study name that names the job; the full values stay readable by automtl."""
    study = optuna.load_study(study_name=searched["result"].study_name,
                              storage=searched["study"]._storage)
    assert "e2e" in study.study_name
    assert study.metric_names == ["t1 auc (valid)", "t2 auc (valid)"]
    shown = [study.user_attrs] + [t.user_attrs for t in study.trials]
    for attrs in shown:
        for key, value in attrs.items():
            text = value if isinstance(value, str) else json.dumps(value)
            assert len(text) <= MAX_SHOWN_CHARS, key
    assert any(k.startswith("automtl:spec.") for k in study.user_attrs)
    assert "automtl:spec" not in study.user_attrs
    assert study_attrs(study)["automtl:spec"]["name"] == "e2e"
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        candidate = stored_attrs(trial)[ATTR_CANDIDATE]
        assert ATTR_CANDIDATE not in trial.user_attrs
        assert trial.user_attrs[f"{ATTR_CANDIDATE}.architecture.topology"] == \
            candidate["architecture"]["topology"]
        assert trial.user_attrs["automtl:valid.t1.auc"] == trial.values[0]
        # the learning curve is the report's, kept whole and out of the dashboard's table
        assert stored_attrs(trial)[ATTR_CURVE]["epoch"] == [1]
        assert not any(k.startswith(ATTR_CURVE) for k in trial.user_attrs)


def test_every_finished_trial_has_metrics_and_loadable_weights(searched: dict[str, Any]) -> None:
    study = searched["study"]
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        attrs = stored_attrs(trial)
        for split in ("automtl:valid", "automtl:test"):
            assert set(attrs[split]) == {"t1", "t2"}
            assert 0.0 <= attrs[split]["t1"]["auc"] <= 1.0
        assert trial.values[0] == attrs["automtl:valid"]["t1"]["auc"]
        directory = Path(attrs["automtl:artifact"])
        assert directory.name == f"trial-{trial.number}"
        config = ModelConfig.model_validate(
            json.loads((directory / "model_config.json").read_text()))
        assert config.topology == attrs[ATTR_CANDIDATE]["architecture"]["topology"]
        model = build_model(config)
        state = torch.load(directory / "model.pt")
        model.load_state_dict(state, strict=True)
        assert model.num_parameters() == attrs["automtl:params"]
        for name, tensor in model.state_dict().items():
            assert torch.equal(tensor, state[name])


def test_constraint_keeps_infeasible_trials_off_the_front(searched: dict[str, Any]) -> None:
    """Issue 19 item 6: a candidate over params_max is refused at sampling, never trained."""
    study, result = searched["study"], searched["result"]
    front = result.front
    big = study.trials[0]  # the enqueued 64-64 shared bottom
    assert big.state == TrialState.PRUNED
    assert "automtl:artifact" not in stored_attrs(big)  # never trained
    assert stored_attrs(big)["automtl:static_params"] > PARAMS_MAX
    assert big.constraints["params_max"] > 0
    assert "not trained" in stored_attrs(big)["automtl:infeasible"]
    assert 0 not in [t["number"] for t in front["trials"]]
    assert all(t["num_params"] <= PARAMS_MAX for t in front["trials"])
    meeting = sum(1 for t in study.trials
                  if stored_attrs(t).get("automtl:static_params", PARAMS_MAX + 1) <= PARAMS_MAX)
    assert result.constraints is not None and result.constraints.startswith(
        f"{meeting} of {len(study.trials)} trials meet params_max {PARAMS_MAX:,}")


def test_callbacks_heard_every_trial(searched: dict[str, Any]) -> None:
    recorder, study = searched["recorder"], searched["study"]
    # trained trials only: the infeasible one was refused at sampling (never started)
    numbers = sorted(t.number for t in study.get_trials(states=(TrialState.COMPLETE,)))
    assert sorted(recorder.started) == numbers
    assert sorted(o.number for o in recorder.outcomes) == numbers
    assert sorted(recorder.epochs) == [(n, 1) for n in numbers]  # one epoch each
    assert all(o.complete and o.artifact and o.test for o in recorder.outcomes)
    last = recorder.progress[-1]
    # finished counts every ended trial, the infeasible one too; the budget counts 6
    assert (last.finished, last.complete, last.pruned, last.infeasible, last.failed,
            last.running, last.budget) == (7, 6, 0, 1, 0, 0, 6)
    assert last.counted == 6
    assert last.front_size == len(searched["result"].front["trials"])


def test_resume_continues_to_the_budget_without_rerunning(
        local_ray: None, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"

    class Resumed(SearchCallbacks):
        def __init__(self) -> None:
            self.resumed: list[dict[str, Any]] = []

        def on_resume(self, resumed: dict[str, Any]) -> None:
            self.resumed.append(resumed)

    fresh = Resumed()
    first = run_search(make_spec("resume", 3), fresh, storage_url=url, artifact_dir=tmp_path)
    assert first.complete == 3
    # a new study is not resumed, although its coverage trials were enqueued before the run
    assert fresh.resumed == []
    # Optuna's INFO line on creating the study is not printed (the CLI is quiet)
    assert "A new study created" not in capfd.readouterr().err
    study = optuna.load_study(study_name="automtl-resume", storage=open_storage(url))
    before = {t.number: (t.values, t.params) for t in study.trials}
    # A process that died mid-trial leaves a RUNNING trial behind.
    dead = study.ask()
    search_spaces.load(SPACE).sample(dead)
    dead_params = dict(dead.params)

    told = Resumed()
    second = run_search(make_spec("resume", 6), told, storage_url=url, artifact_dir=tmp_path)
    assert second.requeued == [dead.number]
    # the rerun said what it resumed (it printed nothing): kept, failed, retried
    from automtl.commands.console import resume_line

    assert len(told.resumed) == 1
    info = told.resumed[0]
    assert (info["study"], info["budget"], info["complete"], info["requeued"]) == (
        "automtl-resume", 6, 3, [dead.number])
    assert info["interrupted"] == 1 and info["failed"] == 0
    assert resume_line(info) == (f"resuming study automtl-resume: 3 of 6 budget trials done "
                                 f"(3 complete, 0 pruned), 0 failed; 1 interrupted trial(s) "
                                 f"run again ({dead.number})")
    study = optuna.load_study(study_name="automtl-resume", storage=open_storage(url))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 6
    for number, (values, params) in before.items():  # the first run's trials are untouched
        assert (study.trials[number].values, study.trials[number].params) == (values, params)
    assert study.trials[dead.number].state == TrialState.FAIL
    assert "interrupted" in stored_attrs(study.trials[dead.number])[ATTR_ERROR]
    retries = [t for t in complete if stored_attrs(t).get(ATTR_RETRY_OF) == dead.number]
    assert len(retries) == 1 and retries[0].params == dead_params
    new = [t for t in complete if t.number not in before]
    assert len(new) == 3
    assert all(t.params != p for t in new for _, p in before.values())  # nothing re-run


def test_failing_candidates_are_recorded_and_the_search_goes_on(
        local_ray: None, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    enqueue(url, "automtl-fail", {"topology": "shared_bottom", "weighting": "equal",
                                  "shared_bottom/bottom_units": "8", "optimizer/lr": 0.01})
    recorder = Recorder()
    spec = make_spec("fail", 4)
    spec["budget"]["max_failures"] = 20  # TPE's random start draws shared_bottom half the time
    injection = FailureInjection(fail_topologies=["shared_bottom"])  # test code, not the spec
    result = run_search(spec, recorder, storage_url=url, artifact_dir=tmp_path,
                        failure_injection=injection)
    study = optuna.load_study(study_name="automtl-fail", storage=open_storage(url))
    failed = study.get_trials(states=(TrialState.FAIL,))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert result.complete == 4 and len(complete) == 4  # failures do not use up the budget
    assert len(failed) == result.failed >= 1
    for trial in failed:
        assert stored_attrs(trial)[ATTR_CANDIDATE]["architecture"]["topology"] == "shared_bottom"
        assert "InjectedFailure" in stored_attrs(trial)[ATTR_ERROR]
    assert all(stored_attrs(t)[ATTR_CANDIDATE]["architecture"]["topology"] == "mmoe"
               for t in complete)
    front_numbers = {t["number"] for t in result.front["trials"]}
    assert front_numbers and front_numbers <= {t.number for t in complete}
    failed_outcomes = [o for o in recorder.outcomes if o.state == "FAIL"]
    assert sorted(o.number for o in failed_outcomes) == sorted(t.number for t in failed)
    assert all("InjectedFailure" in (o.error or "") for o in failed_outcomes)


def test_cli_search_writes_front_and_trials(local_ray: None, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from automtl.cli import main

    spec_path = tmp_path / "job.yaml"
    spec_path.write_text(yaml.safe_dump(make_spec("cli", 2)))
    out = tmp_path / "out"
    assert main(["search", str(spec_path), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    front = json.loads((out / "front.json").read_text())
    assert set(front) >= {"objectives", "reference_point", "hypervolume", "trials",
                          "n_trials", "n_dominated"}
    assert front["n_trials"] == 2
    front_csv = (out / "front.csv").read_text().splitlines()
    assert front_csv[0].startswith("trial,topology,weighting,t1,t2")
    assert len(front_csv) == 1 + len(front["trials"])
    trials_csv = (out / "trials.csv").read_text().splitlines()
    assert len(trials_csv) == 3 and ",complete," in trials_csv[1]
    # the summary names complete and pruned trials apart (the budget counts both)
    assert ": 2 complete, 0 pruned, 0 failed; stopped because its trial budget was used up" \
        in printed, printed
    assert "param:topology" in trials_csv[0].split(",")  # every searched parameter
    # progress went to stderr (not a terminal here, so no bar): one line per trial with the
    # count, its topology and objectives, and the ETA
    lines = [line for line in captured.err.splitlines() if " complete " in line]
    assert [line.split("]")[0] for line in lines] == ["[1/2", "[2/2"]
    assert all(" | t1=" in line and "ETA" in line for line in lines)
    table = printed.split("Pareto front", 1)[1].splitlines()
    assert [c.strip() for c in table[1].split("  ") if c.strip()] == [
        "trial", "topology", "experts", "layer widths", "weighting", "optimiser", "params",
        "t1", "t2"]
    first_cells = [line.split()[0] for line in table[3:] if line.strip()]
    assert [str(t["number"]) for t in front["trials"]] == first_cells[:len(front["trials"])]
    page = (out / "report.html").read_text()
    assert 'id="pareto-front"' in page and 'id="learning-curves"' in page
    # the study names its metrics and keeps each trial's learning curve
    study = optuna.load_study(study_name=front["study"], storage=f"sqlite:///{out / 'automtl.db'}")
    assert study.metric_names == ["t1 auc (valid)", "t2 auc (valid)"]
    for trial in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        curve = stored_attrs(trial)[ATTR_CURVE]
        epochs = stored_attrs(trial)["automtl:epochs"]
        assert curve["epoch"] == list(range(1, epochs + 1))
        assert len(curve["t1/auc"]) == epochs and len(curve["t2/auc"]) == epochs
        assert all(0.0 <= v <= 1.0 for v in curve["t1/auc"])


def test_should_stop_cancels_the_search(local_ray: None, tmp_path: Path) -> None:
    class CancelAfterFirst(Recorder):
        def should_stop(self) -> bool:
            return bool(self.outcomes)

    recorder = CancelAfterFirst()
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    result = run_search(make_spec("cancel", 6), recorder, storage_url=url,
                        artifact_dir=tmp_path)
    assert result.stop_reason == "cancelled"
    assert 1 <= result.complete < 6
    study = optuna.load_study(study_name="automtl-cancel", storage=open_storage(url))
    # nothing is left RUNNING: a trial cut short is FAIL and marked interrupted (retried later)
    assert not study.get_trials(states=(TrialState.RUNNING,))
    for trial in study.get_trials(states=(TrialState.FAIL,)):
        assert stored_attrs(trial)["automtl:interrupted"] is True


def test_a_cancel_ends_the_running_trials_and_starts_no_new_one(local_ray: None,
                                                                 tmp_path: Path) -> None:
    """Cancelled while two long trials train (500 epochs each, far more than the test lets
    them run): both end (the run's stop signal), are stored FAIL and interrupted, no trial
    starts after the cancel, the stop marker is gone and ``on_search_end`` hears
    ``cancelled`` once, after every trial outcome."""

    class CancelWhileTraining(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.cancelled_after: int | None = None
            self.ended: list[tuple[str, int]] = []
            self._both_running = threading.Event()
            self._timer: threading.Timer | None = None

        def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
            super().on_trial_start(number, params)
            if len(self.started) == 2:  # give the trials' processes time to reach training
                self._timer = threading.Timer(8.0, self._both_running.set)
                self._timer.start()

        def should_stop(self) -> bool:
            if self._both_running.is_set() and self.cancelled_after is None:
                self.cancelled_after = len(self.started)
            return self.cancelled_after is not None

        def on_search_end(self, stop_reason: str) -> None:
            self.ended.append((stop_reason, len(self.outcomes)))

    recorder = CancelWhileTraining()
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    spec = make_spec("long", 6, budget={"trials": 6, "concurrency": 2, "epochs": 500})
    spec["dataset"]["rows"] = 20_000
    spec["search_space"] = {**SPACE, "optimizer": {**SPACE["optimizer"],
                                                   "early_stopping_patience": 0}}
    result = run_search(spec, recorder, storage_url=url, artifact_dir=tmp_path)
    assert result.stop_reason == "cancelled" and result.complete == 0
    assert recorder.started and len(recorder.started) == recorder.cancelled_after == 2
    study = optuna.load_study(study_name="automtl-long", storage=open_storage(url))
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    for trial in trials:
        assert stored_attrs(trial)["automtl:interrupted"] is True
        assert "interrupted before it finished (cancelled)" in stored_attrs(trial)[ATTR_ERROR]
    assert sorted(o.number for o in recorder.outcomes) == [0, 1]
    assert recorder.ended == [("cancelled", 2)]
    # interrupted, not failed, wherever they are counted or shown (new-user pass item 4)
    from automtl.commands.console import trial_line

    assert all(" interrupted " in trial_line(o) for o in recorder.outcomes)
    assert result.failed == 0 and result.interrupted == 2
    assert sum(r["interrupted"] for r in result.topologies.values()) == 2
    assert sum(r["failed"] for r in result.topologies.values()) == 0
    assert (result.front["n_failed"], result.front["n_interrupted"]) == (0, 2)
    assert not list(tmp_path.rglob(".stop-*"))


def test_an_artifact_url_receives_every_trial_folder(local_ray: None, tmp_path: Path) -> None:
    """Issue 22 item 5: with ``artifact_url`` (any fsspec URL; ``file://`` here, as the Ray
    workers are other processes) trial weights are uploaded there by the trainable, the study
    records their URLs, and no trial folder is written under ``artifact_dir``."""
    from automtl import artifact_store

    store = f"file://{tmp_path / 'store'}"
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    result = run_search(make_spec("to-store", 2), storage_url=url,
                        artifact_dir=tmp_path / "local", artifact_url=store)
    study = optuna.load_study(study_name=result.study_name, storage=open_storage(url))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 2
    for trial in complete:
        where = stored_attrs(trial)["automtl:artifact"]
        assert where == f"{store}/{result.study_name}/trial-{trial.number}"
        folder = artifact_store.fetch(where, tmp_path / "cache")
        config = ModelConfig.model_validate(
            json.loads((folder / "model_config.json").read_text()))
        model = build_model(config)
        model.load_state_dict(torch.load(folder / "model.pt"), strict=True)
    assert not list((tmp_path / "local").rglob("model.pt"))


@pytest.mark.parametrize("when", ["preparing", "starting_ray"])
def test_a_stop_asked_before_tune_starts_ends_the_search_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    """A job cancelled as its worker claimed it took ~8 s to end: the cancel was read only at
    Tune's first step, after Ray's start. Now it is read before Ray starts and after."""
    import ray.tune

    from automtl.search import runner

    class Cancelled(SearchCallbacks):
        def __init__(self) -> None:
            self.asked = when == "preparing"
            self.ended: list[str] = []

        def should_stop(self) -> bool:
            return self.asked

        def on_search_end(self, stop_reason: str) -> None:
            self.ended.append(stop_reason)

    told = Cancelled()
    starts: list[bool] = []

    def ensure_ray(*args: Any) -> bool:  # Ray's start, during which the cancel arrives
        starts.append(True)
        told.asked = True
        return False

    def no_tune(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Tune started after the stop was asked")

    monkeypatch.setattr(runner, "_ensure_ray", ensure_ray)
    monkeypatch.setattr(ray.tune, "Tuner", no_tune)
    result = run_search(make_spec("early-stop", 4), told,
                        storage_url=f"sqlite:///{tmp_path / 'optuna.db'}", artifact_dir=tmp_path)
    assert result.stop_reason == "cancelled" and told.ended == ["cancelled"]
    assert starts == ([] if when == "preparing" else [True])  # Ray not even started
    assert result.complete == 0 and result.failed == 0 and result.interrupted == 0
