"""Choosing the trial to export: --prefer parsing, the weighted normalised score on a
constructed front, and the errors for trials that do not exist or have not finished."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from export_helpers import TASKS, record, source

from automtl.export import (
    ExportError,
    PreferenceError,
    TrialNotFinishedError,
    TrialNotFoundError,
    choose_trial,
    job_source,
    parse_prefer,
    select_trial,
)
from automtl.jobspec import Objective

OBJECTIVES = [Objective(name="ctr", direction="maximize", metric="auc"),
              Objective(name="cvr", direction="maximize", metric="auc"),
              Objective(name="params", direction="minimize")]
#: a front where each trial is best at something:
#: trial 3 is best on ctr, trial 5 on cvr, trial 8 on params, trial 9 is balanced
FRONT = [
    (3, {"ctr": 0.80, "cvr": 0.60, "params": 9000.0}),
    (5, {"ctr": 0.70, "cvr": 0.70, "params": 5000.0}),
    (8, {"ctr": 0.60, "cvr": 0.62, "params": 1000.0}),
    (9, {"ctr": 0.76, "cvr": 0.68, "params": 5000.0}),
]


def test_parse_prefer() -> None:
    assert parse_prefer("ctr=2, cvr=0.5") == {"ctr": 2.0, "cvr": 0.5}
    assert parse_prefer(None) == {} and parse_prefer("") == {}
    for bad, message in [("ctr", "expected OBJECTIVE=WEIGHT"), ("ctr=x", "not a number"),
                         ("ctr=-1", ">= 0"), ("ctr=inf", "finite"), ("ctr=1,ctr=2", "twice"),
                         ("=1", "expected OBJECTIVE=WEIGHT")]:
        with pytest.raises(ValueError, match=message):
            parse_prefer(bad)


def test_equal_weights_pick_the_balanced_trial() -> None:
    choice = choose_trial(FRONT, OBJECTIVES)
    # normalised (1 = best): ctr (v-0.6)/0.2, cvr (v-0.6)/0.1, params (9000-v)/8000
    # 3: 1 + 0 + 0 = 1; 5: 0.5 + 1 + 0.5 = 2; 8: 0 + 0.2 + 1 = 1.2; 9: 0.8 + 0.8 + 0.5 = 2.1
    assert choice.number == 9
    scores = {t.number: t.score for t in choice.front}
    assert scores == pytest.approx({3: 1.0, 5: 2.0, 8: 1.2, 9: 2.1})
    assert choice.weights == {"ctr": 1.0, "cvr": 1.0, "params": 1.0}
    assert "trial 9" in choice.reason and "next is trial 5" in choice.reason
    normalised = {t.number: t.normalised for t in choice.front}
    assert normalised[8]["params"] == 1.0 and normalised[3]["params"] == 0.0
    assert [o["min"] for o in choice.objectives] == [0.60, 0.60, 1000.0]


def test_the_resolved_weights_of_every_objective_say_which_were_not_named() -> None:
    """``--prefer ctr=1`` weighs cvr and params 1 too (equal weights): the choice says every
    objective's weight and which ones the preference left at the default."""
    choice = choose_trial(FRONT, OBJECTIVES, {"ctr": 1.0})
    assert choice.weights == {"ctr": 1.0, "cvr": 1.0, "params": 1.0}
    assert choice.defaulted == ["cvr", "params"]
    assert choice.weights_text() == "ctr=1, cvr=1, params=1 (cvr, params not named: weight 1)"
    assert choice.weights_header() == "ctr=1,cvr=1,params=1"
    assert choice.to_dict()["defaulted"] == ["cvr", "params"]  # choice.json too
    assert choose_trial(FRONT, OBJECTIVES).weights_text() == \
        "ctr=1, cvr=1, params=1 (none named: equal weights)"
    named = choose_trial(FRONT, OBJECTIVES, {"ctr": 2.0, "cvr": 0.0, "params": 1.0})
    assert named.defaulted == [] and named.weights_text() == "ctr=2, cvr=0, params=1"


@pytest.mark.parametrize(("weights", "expected"), [
    # normalised: 3 = (1, 0, 0), 5 = (0.5, 1, 0.5), 8 = (0, 0.2, 1), 9 = (0.8, 0.8, 0.5)
    ({"ctr": 5.0}, 9),                              # 3: 5; 9: 4 + 0.8 + 0.5 = 5.3
    ({"ctr": 10.0}, 3),                             # 3: 10; 9: 8 + 1.3 = 9.3
    ({"params": 10.0}, 8),                          # 8: 10.2; 9: 6.6; 5: 6.5
    ({"cvr": 3.0, "ctr": 0.0, "params": 0.0}, 5),   # 5: 3; 9: 2.4
    ({"ctr": 0.0, "cvr": 0.0}, 8),                  # params alone
])
def test_prefer_weights_move_the_choice(weights: dict[str, float], expected: int) -> None:
    assert choose_trial(FRONT, OBJECTIVES, weights).number == expected


def test_ties_go_to_the_lowest_trial_number_and_flat_objectives_count_equally() -> None:
    front = [(4, {"ctr": 0.7, "cvr": 0.5, "params": 10.0}),
             (2, {"ctr": 0.5, "cvr": 0.7, "params": 10.0})]
    choice = choose_trial(front, OBJECTIVES)
    assert choice.number == 2  # both score 1 + 0 + 1 (params equal on the front -> 1)
    assert {t.number: t.normalised["params"] for t in choice.front} == {2: 1.0, 4: 1.0}


def test_choice_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"unknown objective\(s\) \['latency_ms'\]"):
        choose_trial(FRONT, OBJECTIVES, {"latency_ms": 1.0})
    with pytest.raises(ValueError, match="every weight is 0"):
        choose_trial(FRONT, OBJECTIVES, {"ctr": 0.0, "cvr": 0.0, "params": 0.0})
    with pytest.raises(ValueError, match="front is empty"):
        choose_trial([], OBJECTIVES)
    with pytest.raises(ValueError, match="trial 3 has no finite value for objective 'cvr'"):
        choose_trial([(3, {"ctr": 0.5, "params": 1.0})], OBJECTIVES)


def test_select_trial_by_number_and_its_errors() -> None:
    done = record(0, None, values={"click": 0.7, "watch": 1.0})
    running = record(2, None, state="running", values=None, on_front=False)
    failed = record(3, None, state="failed", values=None, on_front=False)
    search = source(done, running, failed)
    assert select_trial(search, 0).record is done and select_trial(search, 0).choice is None
    with pytest.raises(TrialNotFoundError, match="job 7 has no trial 1; its trials are 0, 2-3"):
        select_trial(search, 1)
    with pytest.raises(TrialNotFinishedError, match="trial 2 of job 7 is running, not finished"):
        select_trial(search, 2)
    with pytest.raises(TrialNotFinishedError, match="trial 3 of job 7 is failed"):
        select_trial(search, 3)
    with pytest.raises(PreferenceError, match="either a trial number or weights"):
        select_trial(search, 0, {"click": 1.0})


def test_select_trial_from_the_front() -> None:
    a = record(0, None, values={"click": 0.70, "watch": 2.0})
    b = record(1, None, values={"click": 0.60, "watch": 1.0})
    dominated = record(2, None, values={"click": 0.55, "watch": 3.0}, on_front=False)
    search = source(a, b, dominated)
    assert select_trial(search, prefer={"click": 3.0}).record is a
    selection = select_trial(search, prefer={"watch": 3.0})
    assert selection.record is b and selection.choice is not None
    assert [t.number for t in selection.choice.front] == [0, 1]  # the dominated trial is out
    with pytest.raises(TrialNotFinishedError, match="no trial has finished yet"):
        select_trial(source(record(0, None, state="running", values=None, on_front=False)))
    with pytest.raises(TrialNotFoundError, match="it has no trials yet"):
        select_trial(source(), 0)


@pytest.mark.parametrize("failed_state", ["failed", "fail"])  # the service's, a study's
def test_a_search_whose_trials_were_all_pruned_says_so_not_that_none_finished(
        failed_state: str) -> None:
    """A small budget under MO-ASHA: every trial stopped at a rung. 'No trial has finished'
    would be false; the message counts them and says what to change."""
    pruned = [record(n, None, state="pruned", values=None, on_front=False) for n in range(3)]
    failed = record(3, None, state=failed_state, values=None, on_front=False)
    with pytest.raises(TrialNotFinishedError) as exc:
        select_trial(source(*pruned, failed))
    message = str(exc.value)
    assert "no trial has finished" not in message
    assert "none of its 4 trial(s) trained to its last epoch (3 pruned: stopped early at a " \
        "rung or refused by a constraint and 1 failed)" in message and "budget.trials" in message


def test_a_cancelled_search_is_told_to_resume_not_to_raise_the_budget() -> None:
    """After Ctrl-C / a cancel the trials are interrupted, not failed: the export's message
    called them failed and advised a larger budget.trials; a cancelled job that never ran a
    trial was told to wait for one to finish."""
    import dataclasses

    from automtl.export.sources import export_record
    from automtl.trial_record import TrialOutcome

    outcome = TrialOutcome(number=0, state="FAIL", params={}, candidate=None, values=None,
                           interrupted=True)  # a study's trial
    assert export_record(outcome).state == "interrupted"
    stopped = [record(0, None, state="interrupted", values=None, on_front=False),
               record(1, None, state="pruned", values=None, on_front=False)]
    with pytest.raises(TrialNotFinishedError) as exc:
        select_trial(source(*stopped))
    message = str(exc.value)
    assert "1 interrupted: stopped by a cancel or the time limit" in message
    assert "failed" not in message and "budget.trials" not in message
    assert "run the search again to resume it" in message
    never = dataclasses.replace(source(), status="cancelled")
    with pytest.raises(TrialNotFinishedError) as exc:
        select_trial(never)
    assert "cancelled before any trial finished" in str(exc.value)
    assert "once one is complete" not in str(exc.value)


def test_job_source_reads_service_rows() -> None:
    spec = {"name": "j", "dataset": {"path": "d.csv"}, "objectives": ["click", "watch"],
            "tasks": [t.model_dump(exclude_none=True) for t in TASKS]}
    row = SimpleNamespace(id=11, number=0, state=SimpleNamespace(value="complete"),
                          objectives={"click": 0.7, "watch": 1.0},
                          valid_metrics={"click": {"auc": 0.7}}, test_metrics=None,
                          num_params=10, latency_ms=None, artifact_path="/a/trial-0",
                          on_front=True)
    source = job_source(5, "j", spec, [row], study_name="automtl-x")
    assert [o.name for o in source.objectives] == ["click", "watch"]
    (record,) = source.trials
    assert (record.state, record.row_id, record.artifact) == ("complete", 11, "/a/trial-0")
    assert source.front == [record] and source.info["study"] == "automtl-x"
    with pytest.raises(ExportError, match="job 5: its stored spec no longer validates"):
        job_source(5, "j", {**spec, "objectives": ["nope"]}, [row])
