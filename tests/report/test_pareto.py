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
         state: TrialState = TrialState.COMPLETE, infeasible: bool = False) -> None:
    candidate = {"architecture": {"topology": "mmoe"}, "weighting": {"name": "equal"}}
    trial = create_trial(
        state=state, values=values, params={"x": 0.5}, distributions=DIST,
        user_attrs={"automtl:candidate": candidate, "automtl:params": params,
                    "automtl:valid": {"t1": {"auc": 0.7, "logloss": 0.5}, "t2": {"auc": 0.65}},
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


def test_no_feasible_trials_gives_an_empty_front_and_zero_volume() -> None:
    study = _study(["minimize", "minimize"])
    spec = _spec(tasks=[{"name": "t1", "label": "y1", "metric": "logloss"},
                        {"name": "t2", "label": "y2", "metric": "logloss"}])
    front = pareto_front(study, spec)
    assert front["trials"] == [] and front["hypervolume"] == 0.0
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
        (0, "COMPLETE", True), (1, "FAIL", False)]


def test_an_empty_front_as_csv_is_its_header_line() -> None:
    """A search whose trials were all pruned has an empty front: its CSV (``automtl report
    --format csv``, front.csv, ``GET /pareto?format=csv``) is still a header, not nothing."""
    from automtl.report.pareto import front_csv

    front = {"objectives": [{"name": "t1", "direction": "maximize", "metric": "auc"},
                            {"name": "t2", "direction": "maximize", "metric": "auc"}],
             "trials": []}
    assert front_csv(front) == "trial,topology,weighting,t1,t2\n"
