"""The report page from plain data: sections, MTL gains, hypervolume history, utilisation."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from automtl.report.figures import expert_labels, hypervolume_history
from automtl.report.html import architecture_summary, build_report_html, mtl_gains

TASKS = [{"name": "ctr", "metric": "auc", "direction": "maximize"},
         {"name": "watch", "metric": "mse", "direction": "minimize"}]
OBJECTIVES = [{"name": "ctr", "direction": "maximize"}, {"name": "watch", "direction": "minimize"}]


def _trial(number: int, topology: str, ctr: float | None, watch: float | None,
           state: str = "COMPLETE", **extra: Any) -> dict[str, Any]:
    arch = {"topology": topology, "num_shared_experts": 3, "num_task_experts": 1,
            "expert_units": [16], "bottom_units": [32], "tower_units": [8], "gate_kind": "linear",
            "levels": 2, "snr": {"layers": 2, "subnetworks": 3}}
    values = {"ctr": ctr, "watch": watch} if state == "COMPLETE" else None
    return {"number": number, "state": state, "values": values,
            "candidate": {"architecture": arch, "weighting": {"name": "equal", "params": {}},
                          "train": {"optimizer": "adam", "lr": 0.003}},
            "valid": {"ctr": {"auc": ctr}, "watch": {"mse": watch}} if values else {},
            "test": {"ctr": {"auc": (ctr or 0) - 0.01}} if values else {},
            "feasible": True, "gate_utilisation": None, **extra}


def _front(trials: list[dict[str, Any]], numbers: list[int],
           reference: dict[str, float]) -> dict[str, Any]:
    by_number = {t["number"]: t for t in trials}
    front_trials = [{"number": n, "candidate": by_number[n]["candidate"],
                     "values": by_number[n]["values"], "valid": by_number[n]["valid"],
                     "test": by_number[n]["test"], "params": 1000 + n} for n in numbers]
    return {"objectives": OBJECTIVES, "reference_point": reference,
            "reference_rule": {"ctr": "fixed 0.5", "watch": "worst + 10%"},
            "hypervolume": 0.0, "trials": front_trials, "n_trials": len(trials),
            "n_failed": 0, "n_dominated": len(trials) - len(numbers)}


@pytest.fixture
def search() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    usage = {"ctr": [0.7, 0.2, 0.1], "watch": [0.1, 0.3, 0.6]}
    trials = [
        _trial(0, "single_task", 0.70, 2.0),
        _trial(1, "single_task", 0.72, 2.5),
        _trial(2, "mmoe", 0.75, 1.8, gate_utilisation=usage),
        _trial(3, "shared_bottom", 0.60, 3.0),
        _trial(4, "cgc", None, None, state="FAIL", error="boom"),
        _trial(5, "ple", 0.71, 1.5, gate_utilisation={"ctr": [0.5, 0.2, 0.2, 0.1],
                                                      "watch": [0.3, 0.3, 0.2, 0.2]}),
    ]
    return _front(trials, [2, 5], {"ctr": 0.5, "watch": 3.3}), trials


def test_gain_is_relative_to_the_best_single_task_trial_per_task(search):
    front, trials = search
    result = mtl_gains(front, trials, TASKS)
    # best single-task auc is trial 1 (0.72, maximised); best mse is trial 0 (2.0, minimised)
    assert result["baselines"] == {"ctr": {"trial": 1, "value": 0.72},
                                   "watch": {"trial": 0, "value": 2.0}}
    assert result["gains"][2]["ctr"] == pytest.approx((0.75 - 0.72) / 0.72)
    assert result["gains"][2]["watch"] == pytest.approx((2.0 - 1.8) / 2.0)  # lower is better
    assert result["gains"][5]["ctr"] == pytest.approx((0.71 - 0.72) / 0.72)
    assert result["gains"][5]["watch"] == pytest.approx(0.25)


def test_no_single_task_trial_means_no_baseline(search):
    front, trials = search
    others = [t for t in trials if t["number"] not in (0, 1)]
    assert mtl_gains(front, others, TASKS)["baselines"] == {}
    page = build_report_html(front, others, tasks=TASKS)
    assert "no baseline" in page and 'id="mtl-gain"' not in page
    assert "No single_task trial was run" in page


def test_pruned_single_task_trials_are_named_as_the_cause_not_a_missing_topology(search):
    """MO-ASHA stopping every single-task trial is not a space without single_task: the note
    says what happened and how confirmation gives a baseline anyway."""
    front, trials = search
    others = [t for t in trials if t["number"] not in (0, 1)]
    pruned = [_trial(7, "single_task", None, None, state="PRUNED"),
              _trial(8, "single_task", None, None, state="PRUNED")]
    page = build_report_html(front, others + pruned, tasks=TASKS)
    assert "early stopping (MO-ASHA) stopped 2 of 2" in page
    assert "confirm.seeds" in page and "add single_task" not in page


def test_hypervolume_history_is_monotone_and_counts_only_feasible_points(search):
    front, trials = search
    history = hypervolume_history(front, trials)
    assert [n for n, _ in history] == [0, 1, 2, 3, 5]  # complete trials, by number
    volumes = [v for _, v in history]
    assert all(b >= a for a, b in zip(volumes, volumes[1:], strict=False))
    # the last value is the volume of the whole set against the reference (losses, minimised)
    points = np.array([[-t["values"]["ctr"], t["values"]["watch"]] for t in trials
                       if t["state"] == "COMPLETE"])
    expected = _staircase_area(points, np.array([-0.5, 3.3]))
    assert volumes[-1] == pytest.approx(expected)
    trials[3]["feasible"] = False  # trial 3 (dominated) is infeasible: nothing changes
    assert hypervolume_history(front, trials)[-1][1] == pytest.approx(expected)
    trials[2]["feasible"] = False
    assert hypervolume_history(front, trials)[-1][1] < expected


def test_the_page_has_every_section_and_embeds_plotly(search):
    front, trials = search
    page = build_report_html(front, trials, tasks=TASKS, title="My <job>", subtitle="sub")
    assert page.startswith("<!DOCTYPE html>") and "My &lt;job&gt;" in page
    for element in ('id="pareto-front"', 'id="objectives"', 'id="hypervolume-history"',
                    'id="front-table"', 'id="mtl-gain"', 'id="expert-utilisation"'):
        assert element in page, element
    assert page.count("plotly.js v") == 1  # the library once, inline
    assert not re.search(r"<script[^>]+src=", page)  # no CDN or other external script
    table = page[page.index('id="front-table"'):page.index("</table>",
                                                            page.index('id="front-table"'))]
    assert "mmoe" in table and "3 shared" in table and "ple" in table and "2 levels" in table
    assert "<th>test ctr auc</th>" in table  # each task's own metric on the test split
    assert "+4.17%" in page  # trial 2's ctr gain over trial 1


def test_more_than_two_objectives_use_parallel_coordinates(search):
    front, trials = search
    for trial in trials:
        if trial["values"]:
            trial["values"]["params"] = 1000.0 + trial["number"]
    front["objectives"] = [*OBJECTIVES, {"name": "params", "direction": "minimize"}]
    front["reference_point"]["params"] = 2000.0
    for entry in front["trials"]:
        entry["values"]["params"] = 1000.0 + entry["number"]
    page = build_report_html(front, trials, tasks=TASKS)
    assert '"type":"parcoords"' in page


def test_expert_labels_name_own_and_shared_experts_of_cgc_and_ple():
    ple = {"architecture": {"topology": "ple", "num_task_experts": 1}}
    assert expert_labels(ple, 4) == ["own 1", "shared 1", "shared 2", "shared 3"]
    assert expert_labels({"architecture": {"topology": "mmoe"}}, 2) == ["expert 1", "expert 2"]


def test_architecture_summary_per_topology():
    snr = architecture_summary({"architecture": {"topology": "snr_trans", "expert_units": [8],
                                                 "snr": {"layers": 2, "subnetworks": 3}},
                                "weighting": {"name": "gradnorm", "params": {"alpha": 1.5}},
                                "train": {"optimizer": "adam", "lr": 0.001}})
    assert snr["experts"] == "2 layers x 3 sub-networks" and snr["gate"] == ""
    assert snr["weighting"] == "gradnorm (alpha=1.5)" and snr["optimiser"] == "adam lr=0.001"
    bottom = architecture_summary({"architecture": {"topology": "shared_bottom",
                                                    "bottom_units": [64, 32]}})
    assert bottom["units"] == "bottom [64, 32]" and bottom["experts"] == ""


def test_a_job_without_trials_renders(search):
    front, _ = search
    empty = {**front, "trials": [], "reference_point": {"ctr": None, "watch": None}}
    page = build_report_html(empty, [], tasks=TASKS)
    assert "No complete trials yet" in page and 'id="pareto-front"' in page


def _staircase_area(points: np.ndarray, reference: np.ndarray) -> float:
    """The 2-D hypervolume (losses, minimised) by the textbook sweep: sort by the first loss and
    add each non-dominated point's rectangle up to the previous best second loss."""
    area, best_second = 0.0, float(reference[1])
    for first, second in sorted(map(tuple, points)):
        if first < reference[0] and second < best_second:
            area += (reference[0] - first) * (best_second - second)
            best_second = second
    return area


def test_the_study_report_shows_each_trial_error_through_the_redaction_it_is_given():
    """The service's report page showed a failed trial's error as the study holds it, with the
    server's absolute paths (issue 20 item 8: no response shows them); ``redact`` rewrites each
    error before it is shown."""
    import optuna

    from automtl.jobspec import load_job_spec
    from automtl.report.html import report_from_study
    from automtl.trial_record import ATTR_ERROR

    spec = load_job_spec({"name": "r", "dataset": {"builtin": "synthetic", "rows": 600},
                          "tasks": [{"name": "y1"}, {"name": "y2"}]})
    study = optuna.create_study(directions=["maximize", "maximize"])
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.FAIL,
        system_attrs={ATTR_ERROR: "DataError: cannot read '/srv/automtl-data/datasets/ab.csv'"}))
    plain = report_from_study(study, spec)
    assert "/srv/automtl-data/datasets/ab.csv" in plain  # the library shows what it holds
    page = report_from_study(study, spec, redact=lambda text: text and text.replace(
        "/srv/automtl-data/", ""))
    assert "/srv/automtl-data" not in page and "datasets/ab.csv" in page
