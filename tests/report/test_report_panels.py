"""The report's exploration panels and tables: zoom, topology colours, labels that do not
overlap, axis titles, importances, parallel coordinates, learning curves, the trials and
topology tables, and the page's shared-Plotly option."""

from __future__ import annotations

import re
from typing import Any

import optuna
import pytest

from automtl.report.html import build_report_html
from automtl.report.panels import (
    _CHAR_PX,
    _MARKER_PX,
    _PLOT_PX,
    NOT_SAMPLED,
    focus_range,
    label_positions,
    learning_curve_figure,
    param_importances,
    parameter_dimensions,
    zoomed_front_figure,
)
from automtl.report.tables import topology_summary, trials_table

TASKS = [{"name": "ctr", "metric": "auc", "direction": "maximize"},
         {"name": "watch", "metric": "mse", "direction": "minimize"}]
OBJECTIVES = [{"name": "ctr", "direction": "maximize", "metric": "auc"},
              {"name": "watch", "direction": "minimize", "metric": "mse"}]


def _trial(number: int, topology: str, ctr: float | None, watch: float | None,
           state: str = "COMPLETE", params: dict[str, Any] | None = None,
           curve: dict[str, list[float]] | None = None) -> dict[str, Any]:
    values = {"ctr": ctr, "watch": watch} if state == "COMPLETE" else None
    return {"number": number, "state": state, "values": values,
            "candidate": {"architecture": {"topology": topology},
                          "weighting": {"name": "equal", "params": {}}},
            "valid": {"ctr": {"auc": ctr}, "watch": {"mse": watch}} if values else {},
            "test": {}, "feasible": True, "gate_utilisation": None, "num_params": 1000 + number,
            "duration_s": 1.5, "error": "boom\ntrace" if state == "FAIL" else None,
            "params": params or {"topology": topology, "lr": 0.001 * (number + 1)},
            "learning_curve": curve}


def _front(trials: list[dict[str, Any]], numbers: list[int]) -> dict[str, Any]:
    by_number = {t["number"]: t for t in trials}
    return {"objectives": OBJECTIVES, "reference_point": {"ctr": 0.5, "watch": 9.0},
            "reference_rule": {}, "hypervolume": 0.1,
            "trials": [{**by_number[n], "params": 1000 + n} for n in numbers],
            "n_trials": len(trials), "n_failed": 0, "n_dominated": 0}


@pytest.fixture
def search() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A tight cluster of good trials and one diverged trial far away (the bad axis range)."""
    trials = [
        _trial(0, "single_task", 0.700, 1.00),
        _trial(1, "mmoe", 0.712, 0.98, params={"topology": "mmoe", "lr": 0.01,
                                               "mmoe/experts": 4}),
        _trial(2, "mmoe", 0.715, 0.99, params={"topology": "mmoe", "lr": 0.02,
                                               "mmoe/experts": 6}),
        _trial(3, "ple", 0.716, 1.01),
        _trial(4, "shared_bottom", 0.705, 1.02),
        _trial(5, "ple", 0.709, 0.97),
        _trial(6, "shared_bottom", 0.500, 25.0),  # diverged: sets the unzoomed range
        _trial(7, "cgc", None, None, state="FAIL"),
    ]
    return _front(trials, [1, 2, 3, 5]), trials


def test_the_zoom_leaves_out_the_outlier_but_keeps_the_whole_front():
    values = [1.0, 1.1, 0.9, 1.05, 0.95, 40.0]
    low, high = focus_range(values, keep=[0.9, 1.1])
    assert low < 0.9 and 1.1 < high < 40.0
    assert focus_range([1.0, 1.1, 0.9, 1.05], keep=[1.0]) is None  # nothing to leave out
    # a front point beyond the fences is still shown (here: nothing left to zoom away)
    assert focus_range(values, keep=[40.0]) is None
    low, high = focus_range([*values, -30.0], keep=[40.0])
    assert low > -30.0 and high > 40.0


def test_the_front_figure_starts_zoomed_with_a_full_view_button(search):
    front, trials = search
    fig = zoomed_front_figure(front, trials)
    x_range, y_range = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert x_range[0] > 0.5 and y_range[1] < 25.0  # the diverged trial is outside the view
    for entry in front["trials"]:
        assert x_range[0] <= entry["values"]["ctr"] <= x_range[1]
        assert y_range[0] <= entry["values"]["watch"] <= y_range[1]
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert labels == ["Zoom to the front", "Full view"]
    full = fig.layout.updatemenus[0].buttons[1].args[0]
    assert full == {"xaxis.autorange": True, "yaxis.autorange": True}
    # each front point is labelled by its number, beside (not on) its marker
    labels = {a.text: a for a in fig.layout.annotations if a.text.isdigit()}
    assert set(labels) <= {"1", "2", "3", "5"} and len(labels) >= 3
    assert all(abs(a.xshift or 0) + abs(a.yshift or 0) > _MARKER_PX for a in labels.values())


def test_points_are_coloured_by_topology_and_axes_name_task_metric_and_split(search):
    front, trials = search
    fig = zoomed_front_figure(front, trials)
    by_name = {t.name: t for t in fig.data if t.mode == "markers"}
    assert set(by_name) == {"single_task", "mmoe", "ple", "shared_bottom"}  # no failed cgc
    colours = {name: trace.marker.color for name, trace in by_name.items()}
    assert len(set(colours.values())) == 4
    assert fig.layout.xaxis.title.text == "ctr auc (valid), higher is better"
    assert fig.layout.yaxis.title.text == "watch mse (valid), lower is better"
    # the front's points are diamonds, the others circles
    assert list(by_name["mmoe"].marker.symbol) == ["diamond", "diamond"]
    assert list(by_name["shared_bottom"].marker.symbol) == ["circle", "circle"]


def _boxes(points, labels, positions, x_range, y_range):
    sx = _PLOT_PX[0] / (x_range[1] - x_range[0])
    sy = _PLOT_PX[1] / (y_range[1] - y_range[0])
    offsets = {"top center": (0, 1), "bottom center": (0, -1), "middle right": (1, 0),
               "middle left": (-1, 0), "top right": (1, 1), "bottom left": (-1, -1),
               "top left": (-1, 1), "bottom right": (1, -1)}
    boxes = []
    for (x, y), label, position in zip(points, labels, positions, strict=True):
        if not position:
            continue
        dx, dy = offsets[position]
        w, h = _CHAR_PX[0] * len(label), _CHAR_PX[1]
        cx = (x - x_range[0]) * sx + dx * (_MARKER_PX + w / 2 + 2)
        cy = (y - y_range[0]) * sy + dy * (_MARKER_PX + h / 2 + 1)
        boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    return boxes


def test_labels_of_crowded_points_do_not_overlap():
    # ten front points packed into a few pixels: the old labels (all "top center") overlapped
    points = [(0.70 + 0.0004 * i, 1.0 - 0.0004 * i) for i in range(10)]
    labels = [str(10 + i) for i in range(10)]
    positions = label_positions(points, labels, [0.69, 0.72], [0.98, 1.01])
    boxes = _boxes(points, labels, positions, [0.69, 0.72], [0.98, 1.01])
    assert len(boxes) >= 4  # most get a label ...
    for i, a in enumerate(boxes):  # ... and no two labels overlap
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    # points far apart all keep the default position
    apart = label_positions([(0.0, 0.0), (1.0, 1.0)], ["1", "2"], [0, 1], [0, 1])
    assert apart == ["top center", "top center"]


def test_conditional_parameters_get_an_na_value_in_parallel_coordinates(search):
    _, trials = search
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    dims = {d["label"]: d for d in parameter_dimensions(complete)}
    assert "mmoe/experts" not in dims  # sampled by 2 of 6 trials: left to the trials table
    topology = dims["topology"]
    assert sorted(topology["ticktext"]) == sorted({t["params"]["topology"]
                                                    for t in complete})
    assert len(topology["values"]) == len(complete)
    # sampled by 3 of 4 trials: an axis, where the fourth trial sits at "n/a"
    common = [_trial(n, "mmoe", 0.7, 1.0, params={"experts": 2 + n}) for n in range(3)]
    common.append(_trial(3, "single_task", 0.7, 1.0, params={"lr": 0.1}))
    experts = {d["label"]: d for d in parameter_dimensions(common)}["experts"]
    assert experts["ticktext"][0] == NOT_SAMPLED
    assert experts["values"][3] == experts["tickvals"][0] < min(experts["values"][:3])


def test_learning_curves_plot_one_line_per_trial_and_task():
    curve = {"epoch": [1, 2, 3], "ctr/auc": [0.6, 0.65, 0.7], "watch/mse": [2.0, 1.5, 1.2]}
    trials = [_trial(0, "mmoe", 0.7, 1.2, curve=curve), _trial(1, "ple", 0.6, 1.5, curve=curve),
              _trial(2, "ple", 0.5, 2.0)]
    front = _front(trials, [0])
    fig = learning_curve_figure(front, trials, TASKS)
    assert len(fig.data) == 4  # 2 trials with curves x 2 tasks
    assert [a.text for a in fig.layout.annotations] == ["ctr auc (valid)", "watch mse (valid)"]
    assert list(fig.data[0].y) in ([0.6, 0.65, 0.7], [2.0, 1.5, 1.2])
    assert learning_curve_figure(front, [_trial(0, "mmoe", 0.7, 1.2)], TASKS) is None


def test_importances_come_from_optunas_evaluator_per_objective():
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 1)
        y = trial.suggest_float("y", 0, 1)
        return x, y + 0.01 * x

    study.optimize(objective, n_trials=30)
    importances = param_importances(study, OBJECTIVES)
    assert set(importances) == {"ctr auc (valid)", "watch mse (valid)"}
    assert importances["ctr auc (valid)"]["x"] > 0.8  # the first objective is x
    assert importances["watch mse (valid)"]["y"] > 0.8
    assert sum(importances["ctr auc (valid)"].values()) == pytest.approx(1.0)
    empty = optuna.create_study(directions=["maximize", "minimize"])
    assert "at least two" in param_importances(empty, OBJECTIVES)


def test_the_trials_table_lists_every_trial_with_its_parameters(search):
    front, trials = search
    table = trials_table(front, trials)
    assert 'id="trials-table"' in table and 'class="sortable"' in table
    assert table.count("<tr>") == len(trials) + 1  # header + one row per trial, failed too
    for name in ("lr", "mmoe/experts", "topology", "ctr auc (valid)", "duration (s)"):
        assert f"<th>{name}</th>" in table
    assert 'title="boom"' in table  # a failed trial's error


def test_per_topology_counts_and_bests(search):
    front, trials = search
    rows = {r["topology"]: r for r in topology_summary(front, trials)}
    assert rows["mmoe"]["complete"] == 2 and rows["mmoe"]["on_front"] == 2
    assert rows["cgc"]["failed"] == 1 and rows["cgc"]["best"] == {}
    assert rows["shared_bottom"]["best"]["ctr"] == {"trial": 4, "value": 0.705}
    assert rows["ple"]["best"]["watch"] == {"trial": 5, "value": 0.97}  # minimised


def test_the_page_has_the_new_panels_and_can_share_plotly(search):
    front, trials = search
    importances = {"ctr auc (valid)": {"lr": 0.7, "topology": 0.3}}
    page = build_report_html(front, trials, tasks=TASKS, importances=importances)
    for element in ("pareto-front", "param-importances", "parallel-coordinates",
                    "learning-curves", "trials-table", "topology-table"):
        assert f'id="{element}"' in page, element
    assert page.count("plotly.js v") == 1
    shared = build_report_html(front, trials, tasks=TASKS, importances=importances,
                               plotly_js="/api/v1/assets/plotly.min.js")
    assert "plotly.js v" not in shared
    assert re.findall(r'<script[^>]+src="([^"]+)"', shared) == ["/api/v1/assets/plotly.min.js"]
    assert len(shared) < len(page) / 10


def test_importances_stored_when_the_search_ends_are_read_back_until_the_study_changes(
        monkeypatch):
    """Issue 21 item 2: the report reads the importances the search stored instead of fitting
    fANOVA (and importing scikit-learn) on the first GET; a trial added since makes them
    stale, and then they are computed again (nothing is written on a read)."""
    from automtl.report import importances as module

    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 1)
        return x, trial.suggest_float("y", 0, 1)

    study.optimize(objective, n_trials=12)
    stored = module.store_importances(study, OBJECTIVES)
    assert "automtl:importances" not in study.user_attrs  # the dashboard draws its own

    def no_fit(*args, **kwargs):
        raise AssertionError("fANOVA fitted on a read")

    monkeypatch.setattr(module, "param_importances", no_fit)
    assert module.study_importances(study, OBJECTIVES) == stored
    with pytest.raises(AssertionError, match="fANOVA fitted"):  # other objectives: not these
        module.study_importances(study, list(reversed(OBJECTIVES)))
    study.optimize(objective, n_trials=1)
    with pytest.raises(AssertionError, match="fANOVA fitted"):
        module.study_importances(study, OBJECTIVES)


def test_an_interrupted_trial_is_shown_interrupted_not_failed(search):
    """After a cancel the report called the trials it cut short FAIL and counted them failed:
    the page shows INTERRUPTED, the topology table counts them apart, the summary too."""
    from automtl.report.html import build_report_html

    front, trials = search
    stopped = {**_trial(9, "cgc", None, None, state="FAIL"), "interrupted": True,
               "error": "interrupted before it finished (cancelled)"}
    front = {**front, "n_failed": 1, "n_interrupted": 1}
    page = build_report_html(front, [*trials, stopped], tasks=[
        {"name": "ctr", "metric": "auc", "direction": "maximize"},
        {"name": "watch", "metric": "mse", "direction": "minimize"}])
    assert 'title="interrupted before it finished (cancelled)">interrupted</td>' in page
    assert "<span>interrupted</span>" in page
    assert "<th>interrupted</th>" in page
    from automtl.trial_record import shown_state

    shown = [{**t, "state": shown_state(t["state"], t.get("interrupted"))}
             for t in [*trials, stopped]]
    rows = {r["topology"]: r for r in topology_summary(front, shown)}
    assert (rows["cgc"]["failed"], rows["cgc"]["interrupted"]) == (1, 1)
