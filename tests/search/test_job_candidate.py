"""The candidate a search records is the one its trial trains (job overrides applied)."""

from __future__ import annotations

import optuna

import search_spaces
from automtl.config import Candidate
from automtl.jobspec import load_job_spec
from automtl.search.runner import _sample_for_job


def test_recorded_candidate_carries_the_budget_epochs_and_trial_seed() -> None:
    space_doc = {"topology": {"choose": {"mmoe": {}}},
                 "optimizer": {"epochs": 2, "lr": {"float": [1e-3, 1e-2]}}}
    spec = load_job_spec({
        "name": "override", "seed": 7,
        "dataset": {"builtin": "synthetic", "rows": 500, "features": 4},
        "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}],
        "objectives": ["t1", "t2"], "search_space": space_doc,
        "budget": {"trials": 2, "epochs": 5}})
    space = search_spaces.load(space_doc)
    trial = optuna.trial.FixedTrial({"optimizer/lr": 0.005}, number=4)

    recorded = Candidate.model_validate(_sample_for_job(space, spec, trial))

    assert recorded.train.epochs == 5          # the budget's override, not the space's 2
    assert recorded.train.seed == 7 + 4        # the job seed plus the trial number
    assert recorded.train.lr == 0.005


def test_recorded_candidate_has_the_batch_size_the_trial_trains_with() -> None:
    """/trials showed the sampled batch_size 2048 while the exported config (the trained
    model's) said 120: the trainable fits the batch size to the train rows, the recorded
    candidate did not. Now both come from trial_candidate with the train rows."""
    from automtl.search.trainable import fit_batch_size, trial_candidate

    space_doc = {"topology": {"choose": {"mmoe": {}}},
                 "optimizer": {"epochs": 2, "batch_size": 2048}}
    spec = load_job_spec({
        "name": "batch", "dataset": {"builtin": "synthetic", "rows": 3000, "features": 4},
        "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}],
        "objectives": ["t1", "t2"], "search_space": space_doc, "budget": {"trials": 2}})
    space = search_spaces.load(space_doc)
    trial = optuna.trial.FixedTrial({}, number=1)
    recorded = _sample_for_job(space, spec, trial, train_rows=2400)
    assert recorded["train"]["batch_size"] == fit_batch_size(2048, 2400) == 120
    # what the trainable builds from the recorded candidate is the same candidate
    trained = trial_candidate(recorded, spec, 1, 2400).model_dump(mode="json")
    assert trained == recorded


def test_data_warnings_are_stored_and_not_logged_a_second_time_at_warning(caplog) -> None:
    """`automtl search` printed the rare-task warning twice: in its dataset summary, and
    again as a WARNING record that Python's last-resort handler writes to the terminal."""
    import logging

    from automtl.search.runner import store_data_warnings
    from automtl.trial_record import data_warnings_of

    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    with caplog.at_level(logging.DEBUG, logger="automtl"):
        store_data_warnings(study, ["task 'y1' has 3 positive label(s) in the valid split"])
    assert data_warnings_of(study) == ["task 'y1' has 3 positive label(s) in the valid split"]
    records = [r for r in caplog.records if "positive label" in r.getMessage()]
    assert len(records) == 1 and records[0].levelno == logging.INFO
