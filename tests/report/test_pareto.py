"""The Pareto-front report: front from study.best_trials, hypervolume and its reference point."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from automtl.jobspec import load_job_spec
from automtl.report.pareto import front_rows, hypervolume, pareto_front, trial_rows

DIST = {"x": FloatDistribution(0.0, 1.0)}


def _spec(**overrides: Any) -> Any:
    return load_job_spec({
        "name": "rep", "dataset": {"builtin": "synthetic", "rows": 200},
        "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}], **overrides})


def _add(study: optuna.Study, values: list[float] | None, *, params: int = 10,
         state: TrialState = TrialState.COMPLETE, infeasible: bool = False,
         valid: dict[str, Any] | None = None) -> None:
    candidate = {"architecture": {"topology": "mmoe"}, "weighting": {"name": "equal"}}
    trial = create_trial(
        state=state, values=values, params={"x": 0.5}, distributions=DIST,
        user_attrs={"automtl:candidate": candidate, "automtl:params": params,
                    "automtl:valid": valid or {"t1": {"auc": 0.7, "logloss": 0.5},
                                               "t2": {"auc": 0.65}},
                    "automtl:test": {"t1": {"auc": 0.6}, "t2": {"auc": 0.6}}},
        system_attrs={"constraints:params_max": 1.0 if infeasible else -1.0})
    study.add_trial(trial)


def _study(directions: list[str]) -> optuna.Study:
    return optuna.create_study(directions=directions)


def test_front_is_best_trials_and_leaves_out_infeasible_and_failed() -> None:
    study = _study(["maximize", "maximize"])
    _add(study, [0.8, 0.6])                     # 0 front
    _add(study, [0.6, 0.8])                     # 1 front
    _add(study, [0.7, 0.55])                    # 2 dominated by 0
    _add(study, [0.9, 0.9], infeasible=True)    # 3 dominates all, but infeasible
    _add(study, None, state=TrialState.FAIL)    # 4
    front = pareto_front(study, _spec())
    assert [t["number"] for t in front["trials"]] == [0, 1] == \
        sorted(t.number for t in study.best_trials)
    assert (front["n_trials"], front["n_failed"], front["n_infeasible"],
            front["n_dominated"]) == (4, 1, 1, 1)
    assert front["trials"][0]["values"] == {"t1": 0.8, "t2": 0.6}
    assert front["trials"][0]["test"] == {"t1": {"auc": 0.6}, "t2": {"auc": 0.6}}
    assert front["objectives"] == [{"name": "t1", "direction": "maximize", "metric": "auc"},
                                   {"name": "t2", "direction": "maximize", "metric": "auc"}]


def test_hypervolume_of_a_known_front() -> None:
    study = _study(["maximize", "maximize"])
    _add(study, [0.8, 0.6])
    _add(study, [0.6, 0.8])
    front = pareto_front(study, _spec())
    assert front["reference_point"] == {"t1": 0.5, "t2": 0.5}
    assert "chance" in front["reference_rule"]["t1"]
    # union of [0.5,0.8]x[0.5,0.6] and [0.5,0.6]x[0.5,0.8]: 0.03 + 0.03 - 0.01
    assert front["hypervolume"] == pytest.approx(0.05)


def test_points_beyond_the_reference_add_nothing() -> None:
    values = np.array([[0.45, 0.9], [0.7, 0.7]])
    assert hypervolume(values, ["maximize", "maximize"], [0.5, 0.5]) == pytest.approx(0.04)
    assert hypervolume(values[:1], ["maximize", "maximize"], [0.5, 0.5]) == 0.0


def test_a_front_below_the_reference_point_says_why_its_hypervolume_is_zero() -> None:
    """The new user's front of one trial with validation AUCs 0.46 / 0.62 showed hypervolume
    0 with no reason; the CLI, the demo and the report print this note beside it."""
    from automtl.report.html import build_report_html
    from automtl.report.pareto import zero_hypervolume_note

    study = _study(["maximize", "maximize"])
    _add(study, [0.46, 0.62])
    front = pareto_front(study, _spec())
    assert len(front["trials"]) == 1 and front["hypervolume"] == 0.0
    note = zero_hypervolume_note(front)
    assert note is not None and note.startswith(
        "hypervolume 0: no front point is better than the reference point (t1 0.5, t2 0.5) "
        "in every objective")
    assert "AUC under 0.5" in note
    tasks = [{"name": t, "metric": "auc", "direction": "maximize"} for t in ("t1", "t2")]
    assert note in build_report_html(front, [], tasks=tasks, plotly_js="/p.js")
    _add(study, [0.7, 0.7])  # above the reference: a volume, no note
    assert zero_hypervolume_note(pareto_front(study, _spec())) is None
    assert zero_hypervolume_note(pareto_front(_study(["maximize", "maximize"]), _spec())) \
        is None  # an empty front has no volume at all (null)


def test_a_task_below_chance_on_every_front_point_is_warned_about() -> None:
    """A 2-epoch search's front had validation AUC 0.46 for one task on every point, and
    nothing said so."""
    study = _study(["maximize", "maximize"])
    _add(study, [0.46, 0.7], valid={"t1": {"auc": 0.46}, "t2": {"auc": 0.7}})
    _add(study, [0.44, 0.8], valid={"t1": {"auc": 0.44}, "t2": {"auc": 0.8}})
    front = pareto_front(study, _spec())
    assert len(front["trials"]) == 2
    assert front["warnings"] == [
        "task 't1': validation AUC below 0.5 (below chance) on every front point (best "
        "0.460): too few epochs, or a label the features do not predict?"]
    # one front point above chance: no warning
    _add(study, [0.55, 0.5], valid={"t1": {"auc": 0.55}, "t2": {"auc": 0.5}})
    assert pareto_front(study, _spec())["warnings"] == []


def test_reference_for_minimised_metrics_and_costs() -> None:
    spec = _spec(tasks=[{"name": "t1", "label": "y1", "metric": "logloss"},
                        {"name": "t2", "label": "y2", "type": "regression"}],
                 objectives=["t1", "t2", "params"], constraints={"params_max": 1000})
    study = _study(["minimize", "minimize", "minimize"])
    _add(study, [0.4, 2.0, 100.0])
    _add(study, [0.6, 1.0, 300.0])
    front = pareto_front(study, spec)
    # worst feasible value + 10% of the observed range; params: the constraint bound
    assert front["reference_point"] == pytest.approx({"t1": 0.62, "t2": 2.1, "params": 1000.0})
    assert "constraint" in front["reference_rule"]["params"]
    expected = hypervolume(np.array([[0.4, 2.0, 100.0], [0.6, 1.0, 300.0]]),
                           ["minimize"] * 3, [0.62, 2.1, 1000.0])
    assert front["hypervolume"] == pytest.approx(expected) and expected > 0


def test_no_feasible_trials_gives_an_empty_front_and_no_volume() -> None:
    study = _study(["minimize", "minimize"])
    spec = _spec(tasks=[{"name": "t1", "label": "y1", "metric": "logloss"},
                        {"name": "t2", "label": "y2", "metric": "logloss"}])
    front = pareto_front(study, spec)
    assert front["trials"] == [] and front["hypervolume"] is None
    assert front["reference_point"] == {"t1": None, "t2": None}


def test_the_reference_point_reads_as_words_not_a_python_dict() -> None:
    """The second new-user pass: `automtl search` printed `reference {'purchase': 0.5, 'spend':
    0.23127253397682823}` (and `'spend': None` on an empty front)."""
    from automtl.report.pareto import reference_point_text

    assert reference_point_text({"purchase": 0.5, "spend": 0.23127253397682823}) == \
        "purchase 0.5, spend 0.2313"
    assert reference_point_text({"t1": None, "params": 1000.0}) == "t1 none yet, params 1000"


def test_directions_must_match_the_job() -> None:
    with pytest.raises(ValueError, match="directions"):
        pareto_front(_study(["minimize", "maximize"]), _spec())


def test_rows_for_tables() -> None:
    study = _study(["maximize", "maximize"])
    _add(study, [0.8, 0.6])
    _add(study, None, state=TrialState.FAIL)
    rows = front_rows(pareto_front(study, _spec()))
    # every task's validation metrics beside the objectives (issue 21), then the test ones
    assert rows == [{"trial": 0, "topology": "mmoe", "weighting": "equal", "t1": 0.8, "t2": 0.6,
                     "valid_t1_auc": 0.7, "valid_t1_logloss": 0.5, "valid_t2_auc": 0.65,
                     "test_t1_auc": 0.6, "test_t2_auc": 0.6, "num_params": 10,
                     "latency_ms": None}]
    trials = trial_rows(study, _spec())
    metric_columns = {k: v for k, v in trials[0].items() if k.startswith(("valid_", "test_"))}
    assert metric_columns == {k: v for k, v in rows[0].items()
                              if k.startswith(("valid_", "test_"))}
    assert [(r["trial"], r["state"], r["on_front"]) for r in trials] == [
        (0, "complete", True), (1, "failed", False)]


def test_an_empty_front_as_csv_is_its_header_line() -> None:
    """A search whose trials were all pruned has an empty front: its CSV (``automtl report
    --format csv``, front.csv, ``GET /pareto?format=csv``) is still a header, not nothing."""
    from automtl.report.pareto import front_csv

    front = {"objectives": [{"name": "t1", "direction": "maximize", "metric": "auc"},
                            {"name": "t2", "direction": "maximize", "metric": "auc"}],
             "trials": []}
    assert front_csv(front) == "trial,topology,weighting,t1,t2\n"


def _confirmed_study() -> tuple[optuna.Study, Any]:
    """A study whose front point 0 (mmoe) was confirmed against single-task trial 1 with 3
    seeds: t1 gains clearly, t2 moves within the seed noise."""
    from automtl.search.confirm import summarize
    from automtl.trial_record import STUDY_CONFIRMATION_ATTR, set_study_attr

    spec = _spec(confirm={"seeds": 3})
    study = _study(["maximize", "maximize"])
    _add(study, [0.8, 0.6])
    _add(study, [0.6, 0.8])
    candidates = [{"trial": 0, "topology": "mmoe", "roles": ["front"]},
                  {"trial": 1, "topology": "single_task", "roles": ["single_task"]}]
    scores = {0: [{"t1": {"auc": v1}, "t2": {"auc": v2}}
                  for v1, v2 in [(0.80, 0.70), (0.81, 0.60), (0.82, 0.72)]],
              1: [{"t1": {"auc": v1}, "t2": {"auc": v2}}
                  for v1, v2 in [(0.70, 0.66), (0.71, 0.67), (0.70, 0.68)]]}
    set_study_attr(study, STUDY_CONFIRMATION_ATTR, summarize(spec, candidates, scores))
    return study, spec


def test_the_confirmed_gain_table_is_in_the_front_json_and_its_csv() -> None:
    """The confirmation's gain table (gain, interval, seed noise) was only in the HTML page: the
    front (front.json, the report JSON, GET /pareto) carries it under GAIN_FIELDS names, and
    gains_csv gives the same rows under the same column names."""
    import csv
    import io

    from automtl.report.html import report_from_study
    from automtl.report.pareto import GAIN_FIELDS, gains_csv

    study, spec = _confirmed_study()
    front = pareto_front(study, spec)
    table = front["mtl_gain"]
    assert (table["seeds"], table["split"], table["baseline_trial"]) == (3, "test", 1)
    rows = table["gains"]
    assert [(r["trial"], r["task"]) for r in rows] == [(0, "t1"), (0, "t2")]
    assert all(tuple(r) == GAIN_FIELDS for r in rows)
    t1, t2 = rows
    assert t1["gain"] == pytest.approx(np.mean([0.10, 0.10, 0.12]))
    assert t1["ci_low"] > 0 and t1["verdict"] == "better than single-task"
    assert t1["within_noise"] is False and t1["seeds"] == 3
    assert t1["baseline_std"] == pytest.approx(np.std([0.70, 0.71, 0.70], ddof=1))
    assert t2["ci_low"] < 0 < t2["ci_high"] and t2["verdict"] == "within noise"
    parsed = list(csv.DictReader(io.StringIO(gains_csv(front))))
    assert list(parsed[0]) == list(GAIN_FIELDS)
    assert [float(r["gain"]) for r in parsed] == pytest.approx([t1["gain"], t2["gain"]])
    assert [r["verdict"] for r in parsed] == [t1["verdict"], t2["verdict"]]
    page = report_from_study(study, spec, front=front)  # the page says the same verdicts
    assert "better than single-task" in page and "within noise" in page


def test_an_unconfirmed_front_has_no_gain_table_and_a_header_only_gains_csv() -> None:
    from automtl.report.pareto import GAIN_FIELDS, gains_csv

    study = _study(["maximize", "maximize"])
    _add(study, [0.8, 0.6])
    front = pareto_front(study, _spec())
    assert front["mtl_gain"] is None
    assert gains_csv(front) == ",".join(GAIN_FIELDS) + "\n"


def test_the_cli_summary_prints_the_gain_table_under_the_same_names() -> None:
    from automtl.commands.search import gain_summary
    from automtl.report.pareto import GAIN_FIELDS

    study, spec = _confirmed_study()
    text = gain_summary(pareto_front(study, spec)["mtl_gain"])
    lines = text.splitlines()
    assert "confirmed with 3 seeds on the test split" in lines[0]
    assert "baseline trial 1" in lines[0]
    assert lines[1].split() == [f for f in GAIN_FIELDS if f != "within_noise"]
    assert lines[3].split()[:4] == ["0", "mmoe", "t1", "auc"]
    assert "better than single-task" in lines[3] and "within noise" in lines[4]


def test_interrupted_trials_are_not_counted_or_shown_as_failed() -> None:
    """A trial a cancel cut short is FAIL in Optuna with automtl:interrupted: the front's
    n_failed (the report's "failed") left it out of the failures, trials.csv called it FAIL."""
    from automtl.trial_record import ATTR_INTERRUPTED

    study = _study(["maximize", "maximize"])
    _add(study, [0.8, 0.6])
    _add(study, None, state=TrialState.FAIL)                       # a real failure
    study.add_trial(create_trial(state=TrialState.FAIL, params={"x": 0.5}, distributions=DIST,
                                 user_attrs={ATTR_INTERRUPTED: True}))
    spec = _spec()
    front = pareto_front(study, spec)
    assert (front["n_failed"], front["n_interrupted"]) == (1, 1)
    # and named as REST's /trials names them (COMPLETE vs complete was a papercut too)
    assert [r["state"] for r in trial_rows(study, spec)] == ["complete", "failed", "interrupted"]
