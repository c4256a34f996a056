"""single_task has independent losses: it is sampled without a weighting choice."""

from __future__ import annotations

import optuna

import search_spaces
from search_spaces.space import SINGLE_TASK_WEIGHTING


def test_single_task_trials_ask_for_no_weighting_and_train_with_the_plain_sum() -> None:
    space = search_spaces.load({"preset": "default"})
    study = optuna.create_study(directions=["maximize", "maximize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    seen = {"single": 0, "shared": 0}
    for _ in range(60):
        trial = study.ask()
        candidate = space.sample(trial)
        if candidate["architecture"]["topology"] == "single_task":
            seen["single"] += 1
            assert "weighting" not in trial.params
            assert not any(name.split("/")[0] in space.weightings for name in trial.params)
            assert candidate["weighting"] == {"name": SINGLE_TASK_WEIGHTING, "params": {}}
        else:
            seen["shared"] += 1
            assert trial.params["weighting"] == candidate["weighting"]["name"]
        study.tell(trial, [0.5, 0.5])
    assert seen["single"] > 0 and seen["shared"] > 0


def test_a_single_task_trial_is_rebuilt_from_its_params() -> None:
    space = search_spaces.load({"preset": "default"})
    study = optuna.create_study(directions=["maximize", "maximize"])
    study.enqueue_trial({"topology": "single_task"})
    trial = study.ask()
    candidate = space.sample(trial)
    assert space.fixed_candidate(trial.params) == candidate
