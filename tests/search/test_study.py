"""Opening, checking and repairing a job's Optuna study (no Ray)."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from automtl.jobspec import load_job_spec
from automtl.search.study import check_study, existing_trials, open_storage, recover_study
from automtl.trial_record import (
    ATTR_ERROR,
    ATTR_INTERRUPTED,
    ATTR_RETRY_OF,
    stored_attrs,
    study_attrs,
)

SPEC = {"name": "s", "dataset": {"builtin": "synthetic", "rows": 200},
        "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}]}


def _study(tmp_path: Any) -> tuple[optuna.Study, optuna.storages.RDBStorage]:
    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    study = optuna.create_study(storage=storage, study_name="automtl-s",
                                directions=["maximize", "maximize"], load_if_exists=True)
    return study, storage


def test_sqlite_storage_runs_in_wal_mode(tmp_path: Any) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    with storage.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert mode == "wal"


def test_existing_trials_counts_zero_for_a_missing_study(tmp_path: Any) -> None:
    study, storage = _study(tmp_path)
    assert existing_trials(storage, "nope") == 0
    study.ask()
    assert existing_trials(storage, "automtl-s") == 1


def test_running_trials_of_a_dead_run_fail_and_are_enqueued_once(tmp_path: Any) -> None:
    study, storage = _study(tmp_path)
    done = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    study.tell(done, [0.6, 0.6])
    dead = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    assert recover_study(study, storage) == [dead.number]
    trials = study.get_trials()
    assert trials[dead.number].state == TrialState.FAIL
    assert stored_attrs(trials[dead.number])[ATTR_INTERRUPTED] is True
    assert "process running it ended" in stored_attrs(trials[dead.number])[ATTR_ERROR]
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [stored_attrs(t)[ATTR_RETRY_OF] for t in waiting] == [dead.number]
    # A second recovery does not enqueue it again, and the complete trial is never touched.
    assert recover_study(study, storage) == []
    assert study.get_trials()[done.number].state == TrialState.COMPLETE
    # The next trial asked is the retry, with the dead trial's parameters.
    retry = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    assert retry.params == trials[dead.number].params
    assert retry.user_attrs[ATTR_RETRY_OF] == dead.number


def test_interrupted_failures_are_retried_but_real_failures_are_not(tmp_path: Any) -> None:
    study, storage = _study(tmp_path)
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    interrupted = study.ask(dist)
    interrupted.set_user_attr(ATTR_INTERRUPTED, True)
    study.tell(interrupted, state=TrialState.FAIL)
    broken = study.ask(dist)
    broken.set_user_attr(ATTR_ERROR, "ValueError: boom")
    study.tell(broken, state=TrialState.FAIL)
    assert recover_study(study, storage) == [interrupted.number]


def test_check_study_refuses_other_objectives(tmp_path: Any) -> None:
    study, _ = _study(tmp_path)
    spec = load_job_spec(SPEC)
    check_study(study, spec)
    check_study(study, spec)  # same objectives: fine
    with pytest.raises(ValueError, match="already exists with objectives"):
        check_study(study, load_job_spec({**SPEC, "objectives": ["t2", "t1"]}))


def test_a_changed_spec_is_refused_naming_what_changed(tmp_path: Any) -> None:
    from automtl.search.study import SpecChangedError

    study, _ = _study(tmp_path)
    check_study(study, load_job_spec({**SPEC, "budget": {"epochs": 3}}))
    # more trials, other concurrency: the same study, resumed
    check_study(study, load_job_spec({**SPEC, "budget": {"epochs": 3, "trials": 80,
                                                         "concurrency": 2}}))
    with pytest.raises(SpecChangedError, match=r"budget\.epochs \(was 3, now 5\)") as info:
        check_study(study, load_job_spec({**SPEC, "budget": {"epochs": 5}}))
    assert info.value.changed == ["budget.epochs (was 3, now 5)"]
    with pytest.raises(SpecChangedError, match="search_space"):
        check_study(study, load_job_spec({**SPEC, "budget": {"epochs": 3},
                                          "search_space": {"preset": "moe"}}))
    with pytest.raises(SpecChangedError, match=r"dataset\.rows \(was 200, now 300\)"):
        check_study(study, load_job_spec({**SPEC, "budget": {"epochs": 3},
                                          "dataset": {"builtin": "synthetic", "rows": 300}}))


def test_a_study_without_a_fingerprint_adopts_the_spec(tmp_path: Any) -> None:
    from automtl.search.study import STUDY_FINGERPRINT_ATTR, SpecChangedError

    study, _ = _study(tmp_path)
    assert STUDY_FINGERPRINT_ATTR not in study_attrs(study)
    check_study(study, load_job_spec(SPEC))
    assert len(study_attrs(study)[STUDY_FINGERPRINT_ATTR]) == 64
    with pytest.raises(SpecChangedError):
        check_study(study, load_job_spec({**SPEC, "seed": 1}))
