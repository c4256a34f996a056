"""TPE with MO-ASHA: pruned trials ranked by the values they had at their deepest rung."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.samplers._tpe.sampler import _split_trials
from optuna.trial import TrialState, create_trial

from automtl.search.samplers import (
    RungAwareTPESampler,
    make_sampler,
    rank_pruned_trials,
    split_with_rungs,
)
from automtl.trial_record import ATTR_RUNGS, stored_attrs

MODES = {"objective/a": "max", "objective/b": "max"}
X = FloatDistribution(0.0, 1.0)


def _rungs(**epochs: tuple[float, float]) -> dict[str, dict[str, float]]:
    return {epoch.lstrip("e"): {"objective/a": a, "objective/b": b}
            for epoch, (a, b) in epochs.items()}


def _study(trials: list[dict]) -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "maximize"])
    for spec in trials:
        study.add_trial(create_trial(
            state=spec["state"], params={"x": spec["x"]}, distributions={"x": X},
            values=spec.get("values"),
            user_attrs={ATTR_RUNGS: spec["rungs"]} if "rungs" in spec else {}))
    return study


def test_pruned_trials_rank_by_deepest_rung_then_by_dominance_there() -> None:
    study = _study([
        {"state": TrialState.PRUNED, "x": 0.0, "rungs": _rungs(e1=(0.60, 0.60))},
        {"state": TrialState.PRUNED, "x": 0.1, "rungs": _rungs(e1=(0.90, 0.90))},
        # reached rung 3 (worse there than anyone at rung 1): a deeper rung ranks first
        {"state": TrialState.PRUNED, "x": 0.2, "rungs": _rungs(e1=(0.80, 0.80),
                                                               e3=(0.55, 0.55))},
        {"state": TrialState.PRUNED, "x": 0.3},  # no rung values (diverged): last
        {"state": TrialState.PRUNED, "x": 0.4, "rungs": _rungs(e1=(0.70, 0.95))},
    ])
    ranked = rank_pruned_trials(study.trials, MODES)
    # rung 3 first; at rung 1: trials 1 and 4 are non-dominated, 0 is dominated by 1
    assert ranked[0].number == 2
    assert {t.number for t in ranked[1:3]} == {1, 4}
    assert [t.number for t in ranked[3:]] == [0, 3]
    # a minimised metric turns the order around
    flipped = rank_pruned_trials(study.trials, {"objective/a": "min", "objective/b": "min"})
    assert flipped[1].number == 0


def test_the_good_group_takes_the_best_pruned_trials_not_the_earliest() -> None:
    study = _study([
        {"state": TrialState.COMPLETE, "x": 0.5, "values": [0.9, 0.9],
         "rungs": _rungs(e1=(0.7, 0.7))},
        {"state": TrialState.PRUNED, "x": 0.1, "rungs": _rungs(e1=(0.51, 0.52))},
        {"state": TrialState.PRUNED, "x": 0.2, "rungs": _rungs(e1=(0.53, 0.51))},
        {"state": TrialState.PRUNED, "x": 0.8, "rungs": _rungs(e1=(0.80, 0.85))},
        {"state": TrialState.PRUNED, "x": 0.9, "rungs": _rungs(e1=(0.78, 0.90))},
    ])
    trials = study.trials
    below, above = split_with_rungs(study, trials, 3, MODES)
    assert [t.number for t in below] == [0, 3, 4]
    assert [t.number for t in above] == [1, 2]
    # Optuna's own split gives every pruned trial one score: the earliest fill the room
    optuna_below, _ = _split_trials(study, trials, 3)
    assert [t.number for t in optuna_below] == [0, 1, 2]
    # with room for the complete trials only, both splits agree
    for n_below in (0, 1):
        ours = split_with_rungs(study, trials, n_below, MODES)
        theirs = _split_trials(study, trials, n_below)
        assert [[t.number for t in g] for g in ours] == [[t.number for t in g] for g in theirs]


def test_running_and_infeasible_trials_keep_optunas_places() -> None:
    study = _study([
        {"state": TrialState.PRUNED, "x": 0.1, "rungs": _rungs(e1=(0.5, 0.5))},
        {"state": TrialState.PRUNED, "x": 0.9, "rungs": _rungs(e1=(0.9, 0.9))},
    ])
    infeasible = create_trial(state=TrialState.PRUNED, params={"x": 0.3},
                              distributions={"x": X},
                              system_attrs={"constraints": [1.0]})
    study.add_trial(infeasible)
    study.ask()  # a running trial
    trials = study.get_trials(deepcopy=False)
    below, above = split_with_rungs(study, trials, 2, MODES)
    # the two pruned trials fill the room (the better first); the infeasible one comes after
    assert [t.number for t in below] == [0, 1]
    assert sorted(t.number for t in above) == [2, 3]
    below, above = split_with_rungs(study, trials, 1, MODES)
    assert [t.number for t in below] == [1]
    assert sorted(t.number for t in above) == [0, 2, 3]


def _proposals(sampler: optuna.samplers.BaseSampler) -> list[float]:
    """Five proposals of ``sampler`` after 20 pruned trials, the best at rung 1 near x = 0.9,
    the earliest (the rest) near x = 0.1 and x = 0.5, no complete trial."""
    trials = []
    for i in range(20):
        good = i >= 17
        x = 0.9 + 0.01 * (i - 17) if good else (0.1 + 0.01 * i if i < 10 else 0.5)
        value = 0.9 if good else 0.55
        trials.append({"state": TrialState.PRUNED, "x": x, "rungs": _rungs(e1=(value, value))})
    study = _study(trials)
    study.sampler = sampler
    out = []
    for _ in range(5):
        trial = study.ask({"x": X})
        out.append(trial.params["x"])
        study.tell(trial, state=TrialState.PRUNED)  # not ranked: no rung values
    return out


def test_tpe_samples_near_the_best_pruned_trials() -> None:
    ours = _proposals(RungAwareTPESampler(MODES, seed=0, constant_liar=False))
    plain = _proposals(optuna.samplers.TPESampler(seed=0, constant_liar=False))
    # gamma(20..24) = 2..3 good trials: ours the rung's best (x ~ 0.9), Optuna's the first
    # pruned ones (x ~ 0.1)
    assert min(ours) > 0.7
    assert max(plain) < 0.5


def test_make_sampler_uses_the_rung_aware_tpe_only_with_rung_modes() -> None:
    assert isinstance(make_sampler("tpe", 0, 10, rung_modes=MODES), RungAwareTPESampler)
    assert not isinstance(make_sampler("tpe", 0, 10), RungAwareTPESampler)
    assert isinstance(make_sampler("nsga2", 0, 10, rung_modes=MODES),
                      optuna.samplers.NSGAIISampler)
    with pytest.raises(ValueError, match="rung_modes"):
        RungAwareTPESampler({"objective/a": "up"})


def test_pruned_trials_stay_pruned_with_their_rung_values() -> None:
    study = _study([{"state": TrialState.PRUNED, "x": 0.2, "rungs": _rungs(e1=(0.6, 0.7))}])
    study.sampler = RungAwareTPESampler(MODES, seed=1)
    trial = study.ask({"x": X})
    study.tell(trial, state=TrialState.PRUNED)
    first = study.trials[0]
    assert first.state == TrialState.PRUNED and first.values is None
    assert stored_attrs(first)[ATTR_RUNGS] == {"1": {"objective/a": 0.6, "objective/b": 0.7}}


def test_a_job_with_mo_asha_gets_tpe_ranking_pruned_trials_by_its_rung_metrics() -> None:
    from automtl.jobspec import load_job_spec
    from automtl.search.runner import make_scheduler

    spec = load_job_spec({
        "name": "rungs", "dataset": {"builtin": "synthetic", "rows": 200},
        "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}],
        "objectives": ["t1", "t2", "latency_ms"],
        "search_space": {"topology": {"choose": {"mmoe": {}}}},
        "scheduler": {"name": "mo_asha"}})
    scheduler = make_scheduler(spec)
    # latency is measured at a trial's end only: the rungs (and TPE's ranking) leave it out
    assert scheduler.modes == {"objective/t1": "max", "objective/t2": "max"}
    sampler = make_sampler("tpe", 0, 10, rung_modes=scheduler.modes)
    assert isinstance(sampler, RungAwareTPESampler) and sampler.rung_modes == scheduler.modes
