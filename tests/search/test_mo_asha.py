"""MO-ASHA: rungs, promotion by non-dominated sorting, and what the searcher records."""

from __future__ import annotations

import numpy as np
import pytest
from ray.tune.schedulers import TrialScheduler

from automtl.search.mo_asha import (
    MOASHAScheduler,
    RungDecision,
    crowding_distance,
    dominated_by_margin,
    promoted_count,
    rung_epochs,
    selection_order,
)

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


def _result(epoch: int, a: float, b: float, total: int = 9) -> dict[str, float]:
    return {"epoch": epoch, "epochs_total": total, "objective/a": a, "objective/b": b}


def test_rungs_are_geometric_and_below_the_last_epoch() -> None:
    assert rung_epochs(1, 3, 9) == [1, 3]
    assert rung_epochs(1, 3, 10) == [1, 3, 9]
    assert rung_epochs(2, 2, 16) == [2, 4, 8]
    assert rung_epochs(1, 3, 1) == []


def test_selection_order_ranks_fronts_then_crowding() -> None:
    # losses (lower is better): 0 and 1 are non-dominated, 2 is dominated by 0, 3 by all
    losses = np.array([[0.1, 0.5], [0.5, 0.1], [0.2, 0.6], [0.9, 0.9]])
    order = list(selection_order(losses))
    assert set(order[:2]) == {0, 1}
    assert order[2:] == [2, 3]
    # inside one front, the boundary points (infinite crowding) come before the middle one
    front = np.array([[0.0, 1.0], [0.5, 0.5], [0.45, 0.55], [1.0, 0.0]])
    assert set(selection_order(front)[:2]) == {0, 3}


def test_crowding_distance_by_hand() -> None:
    # sorted by either objective the order is 0, 1, 2, 3; ranges 1.0 and 1.0
    front = np.array([[0.0, 1.0], [0.2, 0.7], [0.6, 0.5], [1.0, 0.0]])
    distance = crowding_distance(front)
    assert np.isinf(distance[0]) and np.isinf(distance[3])
    # point 1: (0.6 - 0.0) / 1 + (1.0 - 0.5) / 1; point 2: (1.0 - 0.2) + (0.7 - 0.0)
    assert distance[1] == pytest.approx(1.1) and distance[2] == pytest.approx(1.5)
    # scale-free: each objective is divided by its own range
    assert crowding_distance(front * [10.0, 1.0]) == pytest.approx(distance)
    # two points: both are boundaries; a constant objective adds nothing
    assert np.isinf(crowding_distance(front[:2])).all()
    flat = np.array([[0.0, 0.3], [0.5, 0.3], [0.7, 0.3], [1.0, 0.3]])
    assert crowding_distance(flat)[1:3] == pytest.approx([0.7, 0.5])


def test_selection_order_breaks_crowding_ties_by_index_and_keeps_duplicates_together() -> None:
    # duplicates share a rank (moocore.pareto_rank); the earlier index goes first on a tie
    losses = np.array([[0.5, 0.5], [0.1, 0.9], [0.5, 0.5], [0.9, 0.1], [0.8, 0.8]])
    order = list(selection_order(losses))
    assert set(order[:2]) == {1, 3} and order[2:] == [0, 2, 4]
    assert list(selection_order(np.empty((0, 2)))) == []


def test_a_dominated_trial_is_stopped_at_the_first_rung() -> None:
    scheduler = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"],
                                grace_epochs=1, reduction_factor=3)
    assert scheduler.decide("good", _result(1, 0.9, 0.9)) == CONTINUE  # first at the rung
    assert scheduler.decide("bad", _result(1, 0.5, 0.5)) == STOP  # top 1 of 2 is "good"
    assert scheduler.pruned_epoch("bad") == 1 and scheduler.pruned_epoch("good") is None
    assert scheduler.rung_values("bad") == {"1": {"objective/a": 0.5, "objective/b": 0.5}}
    # epochs between rungs are never judged
    assert scheduler.decide("bad2", _result(2, 0.0, 0.0)) == CONTINUE


def test_a_non_dominated_trade_off_beats_a_dominated_trial_with_a_better_first_metric(
) -> None:
    scheduler = MOASHAScheduler(["objective/a", "objective/b"], ["max", "min"],
                                grace_epochs=1, reduction_factor=2)
    assert scheduler.decide("t0", _result(1, 0.9, 0.9)) == CONTINUE
    assert scheduler.decide("t2", _result(1, 0.6, 0.95)) == STOP  # dominated by t0
    # worse a than t2 (ranking on a alone would drop it) but not dominated: top 2 of 3
    assert scheduler.decide("t1", _result(1, 0.5, 0.1)) == CONTINUE
    assert scheduler.decisions("t1")[0].rank < 2 and scheduler.decisions("t1")[0].n == 3


def test_minimised_metrics_are_ranked_the_right_way() -> None:
    scheduler = MOASHAScheduler(["objective/a", "objective/b"], ["min", "min"],
                                grace_epochs=1, reduction_factor=3)
    scheduler.decide("low", _result(1, 0.1, 0.1))
    assert scheduler.decide("high", _result(1, 0.5, 0.5)) == STOP


def test_the_last_epoch_and_the_final_report_are_never_judged() -> None:
    scheduler = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"],
                                grace_epochs=1, reduction_factor=3)
    scheduler.decide("good", _result(3, 0.9, 0.9, total=9))
    # a trial whose total is 3 epochs: rung 3 is its last epoch, stopping saves nothing
    assert scheduler.decide("short", _result(3, 0.1, 0.1, total=3)) == CONTINUE
    assert scheduler.decide("x", {"automtl/final": True, "objective/a": 0.0,
                                  "objective/b": 0.0}) == CONTINUE


def test_later_rungs_promote_a_third() -> None:
    scheduler = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"],
                                grace_epochs=1, reduction_factor=3)
    kept = [tid for tid, v in [("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.95), ("e", 0.6),
                               ("f", 0.5)]
            if scheduler.decide(tid, _result(1, v, v)) == CONTINUE]
    # asynchronous: each is compared with the trials that reached the rung before it
    assert kept == ["a", "d"]


def test_the_eta_rule_promotes_nobody_until_eta_trials_reached_the_rung() -> None:
    assert [promoted_count(n, 3, "eager") for n in range(1, 8)] == [1, 1, 1, 2, 2, 2, 3]
    assert [promoted_count(n, 3, "eta") for n in range(1, 8)] == [0, 0, 1, 1, 1, 2, 2]
    scheduler = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"],
                                grace_epochs=1, reduction_factor=3, promotion="eta")
    # the same arrivals as test_later_rungs_promote_a_third: there "a" (first) and "d" went on
    sequence = [("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.95), ("e", 0.6), ("f", 0.5),
                ("g", 0.99), ("h", 0.85), ("i", 0.4)]
    decisions = {tid: scheduler.decide(tid, _result(1, v, v)) for tid, v in sequence}
    # a, b: fewer than eta at the rung, stopped; c: 3rd of 3; d: best of 4 (1 place);
    # g: best of 7 (2 places); h: 4th of 8 (2 places); i: last of 9 (3 places)
    assert [t for t, d in decisions.items() if d == CONTINUE] == ["d", "g"]
    assert scheduler.pruned_epoch("a") == 1 and scheduler.pruned_epoch("d") is None
    assert [(d.rank, d.n, d.kept) for d in scheduler.decisions("a")] == [(0, 1, False)]
    # at the next rung the count starts again: the first two promoted trials stop there
    assert scheduler.decide("d", _result(3, 0.95, 0.95)) == STOP
    assert scheduler.decide("g", _result(3, 0.99, 0.99)) == STOP
    assert scheduler.rung_values("g") == {"1": {"objective/a": 0.99, "objective/b": 0.99},
                                          "3": {"objective/a": 0.99, "objective/b": 0.99}}
    assert scheduler.modes == {"objective/a": "max", "objective/b": "max"}


def test_first_rung_coverage_trials_stop_there_and_rank_the_trials_after_them() -> None:
    scheduler = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"],
                                grace_epochs=1, reduction_factor=3, coverage="first_rung")
    for tid in ("c0", "c1", "c2"):
        scheduler.start_coverage_trial(tid)
    # the best of the rung, and still stopped: a coverage trial trains to the first rung only
    assert scheduler.decide("c0", _result(1, 0.9, 0.9)) == STOP
    assert scheduler.decide("c1", _result(1, 0.5, 0.5)) == STOP
    assert scheduler.decide("c2", _result(1, 0.6, 0.6)) == STOP
    assert [scheduler.pruned_epoch(t) for t in ("c0", "c1", "c2")] == [1, 1, 1]
    assert scheduler.rung_values("c0") == {"1": {"objective/a": 0.9, "objective/b": 0.9}}
    # the first sampled trial meets 3 records at the rung: 2nd of 4 goes on (ceil(4/3) = 2),
    # where without them it would have gone on as the rung's first arrival whatever it scored
    assert scheduler.decide("t0", _result(1, 0.7, 0.7)) == CONTINUE
    assert scheduler.decide("t1", _result(1, 0.55, 0.55)) == STOP
    # "full" (the class default): a coverage trial is ranked like any other
    full = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"], coverage="full")
    full.start_coverage_trial("c0")
    assert full.decide("c0", _result(1, 0.1, 0.1)) == CONTINUE
    # a coverage trial with no rung below its last epoch trains to the end
    assert scheduler.decide("c3", _result(1, 0.9, 0.9, total=1)) == CONTINUE


def test_a_non_finite_value_at_a_rung_stops_the_trial() -> None:
    scheduler = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"])
    assert scheduler.decide("nan", _result(1, float("nan"), 0.5)) == STOP
    assert scheduler.pruned_epoch("nan") == 1


def test_dominated_by_margin_needs_a_margin_in_every_metric() -> None:
    losses = np.array([[0.10, 0.10], [0.20, 0.15], [0.30, 0.12]])
    assert dominated_by_margin(losses, 1, np.array([0.05, 0.04]))  # row 0: 0.10, 0.05 better
    assert not dominated_by_margin(losses, 1, np.array([0.05, 0.05]))  # 0.05 is not > 0.05
    assert not dominated_by_margin(losses, 2, np.array([0.01, 0.05]))  # 0.02 in b only
    assert not dominated_by_margin(losses, 0, np.zeros(2))  # nothing beats the best


def test_epsilon_keeps_a_trial_the_noise_cannot_tell_from_the_front() -> None:
    # the same arrivals as test_later_rungs_promote_a_third: there only "a" and "d" went on
    sequence = [("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.95), ("e", 0.6), ("f", 0.5)]
    scheduler = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"],
                                grace_epochs=1, reduction_factor=3, epsilon=[0.15, 0.15])
    kept = [t for t, v in sequence if scheduler.decide(t, _result(1, v, v)) == CONTINUE]
    # b is 2nd of 2 (1 place) but only 0.1 below a in both metrics: within epsilon, kept;
    # c is 0.2 below a in both: more than epsilon, stopped; e and f too
    assert kept == ["a", "b", "d"]
    assert [d.kept for d in scheduler.decisions("b")] == [True]
    assert scheduler.decisions("b")[0].rank == 1 and scheduler.decisions("b")[0].n == 2
    # one epsilon per metric: a wide margin on b alone does not save a trial 0.2 below on a
    per_metric = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"],
                                 epsilon=[0.05, 1.0])
    per_metric.decide("a", _result(1, 0.9, 0.9))
    assert per_metric.decide("b", _result(1, 0.7, 0.7)) == CONTINUE  # 0.2 < 1.0 on b
    assert per_metric.decide("c", _result(1, 0.7, 0.7)) == CONTINUE
    # with epsilon 0 (the default) the same arrivals keep the plain rule
    plain = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"])
    plain.decide("a", _result(1, 0.9, 0.9))
    assert plain.decide("b", _result(1, 0.8, 0.8)) == STOP


def test_brackets_deal_trials_in_turn_and_rank_each_bracket_on_its_own() -> None:
    scheduler = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"],
                                grace_epochs=1, reduction_factor=3, max_epochs=9, brackets=3,
                                coverage="first_rung")
    scheduler.start_coverage_trial("c0")
    # the coverage trial goes to bracket 0 and does not take a turn
    assert scheduler.decide("c0", _result(1, 0.99, 0.99)) == STOP
    assert [scheduler.bracket(t) for t in ("c0", "t0", "t1", "t2", "t3")] == [0, 0, 1, 2, 0]
    # bracket 0 (rungs 1, 3): t0 meets c0 at rung 1 and is 2nd of 2 (1 place)
    assert scheduler.decide("t0", _result(1, 0.5, 0.5)) == STOP
    # bracket 1 (first rung at 3): epoch 1 is not judged, and at epoch 3 t1 is the first
    # arrival of its bracket's rung, whatever bracket 0's trials scored there
    assert scheduler.decide("t1", _result(1, 0.1, 0.1)) == CONTINUE
    assert scheduler.decide("t1", _result(3, 0.2, 0.2)) == CONTINUE
    assert scheduler.decisions("t1") == [RungDecision(epoch=3, rank=0, n=1, kept=True)]
    # bracket 2 (first rung at 9 = the last epoch): never judged, trains to the end
    assert scheduler.decide("t2", _result(1, 0.0, 0.0)) == CONTINUE
    assert scheduler.decide("t2", _result(3, 0.0, 0.0)) == CONTINUE
    assert scheduler.decisions("t2") == [] and scheduler.pruned_epoch("t2") is None
    assert scheduler.rung_values("t1") == {"3": {"objective/a": 0.2, "objective/b": 0.2}}
    # one bracket (the default) keeps every trial in bracket 0
    single = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"])
    assert {single.bracket(t) for t in ("a", "b", "c")} == {0}


@pytest.mark.parametrize("kwargs, match", [
    ({"brackets": 0}, "brackets"),
    ({"grace_epochs": 0}, "grace_epochs"), ({"reduction_factor": 1}, "reduction_factor"),
    ({"promotion": "lazy"}, "promotion"), ({"coverage": "half"}, "coverage"),
    ({"epsilon": -0.1}, "epsilon"), ({"epsilon": [0.1, 0.1]}, "epsilon"),
    ({"epsilon": float("nan")}, "epsilon")])
def test_bad_arguments_name_the_field(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MOASHAScheduler(["objective/a"], ["max"], **kwargs)


PAUSE = TrialScheduler.PAUSE


def test_the_pause_rule_pauses_at_a_rung_and_promotes_when_the_rung_ranks_it_top() -> None:
    """ASHA's promotion variant: a trial outside the top floor(n/eta) pauses at the rung; once
    enough trials reached it, the best paused ones are resumed (highest rung first), each once;
    the trials still paused at the end are pruned at their rung."""
    assert [promoted_count(n, 3, "pause") for n in range(1, 8)] == [0, 0, 1, 1, 1, 2, 2]
    scheduler = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"],
                                grace_epochs=1, reduction_factor=3, promotion="pause")
    # a (0.9), b (0.8): fewer than eta at the rung, both pause (the eta rule stopped them)
    assert scheduler.decide("a", _result(1, 0.9, 0.9)) == PAUSE
    assert scheduler.decide("b", _result(1, 0.8, 0.8)) == PAUSE
    assert scheduler.paused() == ["a", "b"] and scheduler.paused_epoch("a") == 1
    assert scheduler.pruned_epoch("a") is None and scheduler.next_promotion() is None
    # c is 3rd of 3: it pauses too, and now the rung's top floor(3/3) = 1 is "a": promoted
    assert scheduler.decide("c", _result(1, 0.7, 0.7)) == PAUSE
    assert scheduler.next_promotion() == "a"
    assert scheduler.next_promotion() is None  # a's place is used; b is 2nd of 3
    assert scheduler.paused_epoch("a") is None and scheduler.decisions("a")[-1].kept
    # d arrives best of 4: in the top floor(4/3) = 1, it goes on at once
    assert scheduler.decide("d", _result(1, 0.95, 0.95)) == CONTINUE
    # a reaches rung 3 alone: it pauses there; e, f (1st rung) bring the top to 2: b goes on
    assert scheduler.decide("a", _result(3, 0.91, 0.91)) == PAUSE
    assert scheduler.decide("e", _result(1, 0.6, 0.6)) == PAUSE
    assert scheduler.next_promotion() is None  # 5 at rung 1: top 1 (d, promoted)
    assert scheduler.decide("f", _result(1, 0.5, 0.5)) == PAUSE
    assert scheduler.next_promotion() is None  # 6 at rung 1: top 2 = d, a, both promoted
    for tid, value in (("g", 0.4), ("h", 0.3)):
        assert scheduler.decide(tid, _result(1, value, value)) == PAUSE
    assert scheduler.next_promotion() is None  # 8: still top 2
    assert scheduler.decide("i", _result(1, 0.2, 0.2)) == PAUSE
    assert scheduler.next_promotion() == "b"  # 9 at rung 1: top 3 = d, a, b
    assert [(d.epoch, d.kept) for d in scheduler.decisions("b")] == [(1, False), (1, True)]
    assert scheduler.paused() == ["c", "a", "e", "f", "g", "h", "i"]  # in pausing order
    # only the trials Tune holds paused may be resumed (choose_trial_to_run's ``among``)
    assert scheduler.next_promotion(among={"c"}) is None
    # the end of the search: what is still paused is pruned at its rung, with its rung values
    ended = scheduler.finish()
    assert ended == {"a": 3, "c": 1, "e": 1, "f": 1, "g": 1, "h": 1, "i": 1}
    assert scheduler.pruned_epoch("a") == 3 and scheduler.paused() == []
    assert scheduler.rung_values("a") == {"1": {"objective/a": 0.9, "objective/b": 0.9},
                                          "3": {"objective/a": 0.91, "objective/b": 0.91}}
    assert scheduler.pruned_epoch("d") is None


def test_tune_resumes_only_a_promotable_paused_trial_under_the_pause_rule() -> None:
    from types import SimpleNamespace

    from ray.tune.experiment import Trial

    scheduler = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"],
                                grace_epochs=1, reduction_factor=3, promotion="pause")
    trials = {tid: SimpleNamespace(trial_id=tid, status=Trial.PAUSED) for tid in "abc"}
    for tid, value in (("a", 0.5), ("b", 0.9), ("c", 0.7)):
        assert scheduler.on_trial_result(None, trials[tid], _result(1, value, value)) == PAUSE
    pending = SimpleNamespace(trial_id="p", status=Trial.PENDING)
    controller = SimpleNamespace(get_trials=lambda: [*trials.values(), pending])
    assert scheduler.choose_trial_to_run(controller) is trials["b"]  # best of 3: promoted
    trials["b"].status = Trial.RUNNING
    # no paused trial is promotable now: a new (pending) trial, never a blind resume
    assert scheduler.choose_trial_to_run(controller) is pending
    pending.status = Trial.RUNNING
    assert scheduler.choose_trial_to_run(controller) is None


class _Trial:
    def __init__(self, trial_id: str) -> None:
        self.trial_id = trial_id


@pytest.mark.parametrize("promotion", ["eager", "eta", "pause"])
def test_the_last_trial_standing_is_never_stopped(promotion: str) -> None:
    """The demo's 16 trials: 14 coverage trials to the first rung only, then 2 sampled trials
    that rank below them there; before, all 16 stopped at rung 1 and the search had no complete
    trial. Two at a time: a trial is stopped while another may still complete, the last one
    standing goes on."""
    scheduler = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"],
                                grace_epochs=1, reduction_factor=3, coverage="first_rung",
                                promotion=promotion)
    coverage = [f"c{i}" for i in range(14)]
    for tid in coverage:
        scheduler.start_coverage_trial(tid)
    scheduler.on_trial_add(None, _Trial("c0"))
    for i, tid in enumerate(coverage):  # the next trial starts before this one reaches the rung
        scheduler.on_trial_add(None, _Trial(coverage[i + 1] if i + 1 < 14 else "t14"))
        assert scheduler.decide(tid, _result(1, 0.9, 0.9)) == STOP
    scheduler.on_trial_add(None, _Trial("t15"))
    stopped = PAUSE if promotion == "pause" else STOP
    assert scheduler.decide("t14", _result(1, 0.5, 0.5)) == stopped  # t15 may still complete
    # t15 ranks last of 16 and is the last trial standing: it goes on, at every rung
    assert scheduler.decide("t15", _result(1, 0.4, 0.4)) == CONTINUE
    assert scheduler.decide("t15", _result(3, 0.4, 0.4)) == CONTINUE
    assert scheduler.decisions("t15")[0] == RungDecision(epoch=1, rank=15, n=16, kept=True)
    assert scheduler.pruned_epoch("t15") is None


def test_a_failed_trial_does_not_count_as_standing() -> None:
    scheduler = MOASHAScheduler(["objective/a", "objective/b"], ["max", "max"],
                                grace_epochs=1, reduction_factor=3)
    for tid in ("a", "b", "c"):
        scheduler.on_trial_add(None, _Trial(tid))
    assert scheduler.decide("a", _result(1, 0.9, 0.9)) == CONTINUE  # first at the rung
    scheduler.on_trial_error(None, _Trial("a"))  # ... and then it crashed
    scheduler.on_trial_remove(None, _Trial("b"))  # b never started (cancelled while pending)
    # c ranks 2nd of 2 (ceil(2/3) = 1 goes on), but no other trial can complete any more
    assert scheduler.decide("c", _result(1, 0.5, 0.5)) == CONTINUE
    # c may still complete: a later trial below it at the rung is stopped as before
    scheduler.on_trial_add(None, _Trial("d"))
    assert scheduler.decide("d", _result(1, 0.1, 0.1)) == STOP
