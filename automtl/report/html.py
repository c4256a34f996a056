"""The search report as one self-contained HTML page (Plotly's JavaScript embedded, no CDN).

:func:`build_report_html` takes plain data: the front dict of
:func:`automtl.report.pareto.pareto_front`, a list of trial dicts (any state) and the job's
tasks, so the service (from SQL + the study) and a local CLI (from the study alone, via
:func:`report_from_study`) render the same page. A trial dict has ``number``, ``state``
(Optuna's state name), ``values`` (objective -> validation value), ``candidate``, ``valid`` /
``test`` (task -> metric -> value), ``feasible``, ``num_params``, ``latency_ms``,
``duration_s``, ``error``, ``gate_utilisation`` (task -> mean gate weight per expert, or
None), ``params`` (Optuna parameter name -> sampled value) and ``learning_curve``
(``"epoch"`` and ``"<task>/<metric>"`` -> per-epoch validation values, or None): the trial's
record, keyed by :data:`automtl.trial_record.TRIAL_FIELD_NAMES`.

Sections (element ids in brackets): the front plotted, zoomed on the region that matters and
coloured by topology (``pareto-front``), every objective over the trials (``objectives``),
hypervolume over the trials (``hypervolume-history``), parameter importances
(``param-importances``), parallel coordinates (``parallel-coordinates``), learning curves
(``learning-curves``), the front table with each point's architecture (``front-table``), per
topology counts and bests (``topology-table``), the MTL gain of each front point over the best
``single_task`` trial per task (``mtl-gain``), the expert utilisation of the front's gated
models (``expert-utilisation``) and a sortable table of every trial (``trials-table``).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import plotly.io as pio

from automtl.report import figures, panels, tables
from automtl.report.architecture import topology_summary
from automtl.report.pareto import gain_verdict, zero_hypervolume_note

MAX_UTILISATION_POINTS = 6
#: topologies whose tasks mix experts through softmax gates (MTLModel.gate_weights)

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       color: #1f2933; background: #f5f7fa; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 6px; }
.sub { color: #52606d; margin: 0 0 18px; }
section { background: #fff; border-radius: 8px; padding: 18px 22px; margin: 0 0 20px;
          box-shadow: 0 1px 3px rgba(0,0,0,.08); }
.note { color: #52606d; font-size: 14px; margin: 0 0 10px; }
.note.warning { color: #8a4b00; font-weight: 600; }
.stats { display: flex; flex-wrap: wrap; gap: 12px; }
.stat { background: #f0f4f8; border-radius: 6px; padding: 10px 14px; min-width: 120px; }
.stat b { display: block; font-size: 20px; }
.stat span { color: #52606d; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 6px 8px; border-bottom: 1px solid #e4e7eb; text-align: left;
         vertical-align: top; }
th { background: #f0f4f8; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.gain-pos { color: #0b7a3e; font-weight: 600; }
.gain-neg { color: #b42318; font-weight: 600; }
.scroll { overflow-x: auto; }
.scroll.tall { max-height: 640px; overflow-y: auto; }
.muted { color: #7b8794; font-size: 12px; }
th[data-sort="asc"]::after { content: " \\25B2"; }
th[data-sort="desc"]::after { content: " \\25BC"; }
"""


def build_report_html(front: Mapping[str, Any], trials: Sequence[Mapping[str, Any]], *,
                      tasks: Sequence[Mapping[str, str]], title: str = "automtl search report",
                      subtitle: str | None = None,
                      max_utilisation_points: int = MAX_UTILISATION_POINTS,
                      importances: Mapping[str, Mapping[str, float]] | str | None = None,
                      plotly_js: str | None = None,
                      confirmation: Mapping[str, Any] | None = None) -> str:
    """The report page. ``tasks`` are ``{"name", "metric", "direction"}`` of the job's tasks;
    ``importances`` is :func:`automtl.report.importances.param_importances` (or the sentence saying
    why there are none); ``plotly_js`` is the URL of a shared ``plotly.min.js`` to load instead
    of embedding Plotly's ~4.6 MB script in the page (``None``: self-contained);
    ``confirmation`` is the stored multi-seed confirmation (:mod:`automtl.search.confirm`),
    which the MTL-gain section then reports instead of the single-run validation values."""
    from automtl.trial_record import shown_state

    front = dict(front)
    # a trial a stop cut short is INTERRUPTED in every table, not FAIL
    trial_list = [{**t, "state": shown_state(str(t.get("state")), t.get("interrupted"))}
                  for t in trials]
    plots = _Plots(plotly_js)
    two = len(front["objectives"]) == 2
    front_fig = (panels.zoomed_front_figure(front, trial_list) if two
                 else figures.front_figure(front, trial_list))
    front_note = ("Every complete trial by its validation objectives, coloured by topology; "
                  "the non-dominated (Pareto-optimal) trials are outlined diamonds, labelled by "
                  "trial number and joined by the dotted line." if two else
                  "Every complete trial by its validation objectives; the non-dominated "
                  "(Pareto-optimal) trials are highlighted.")
    curves = panels.learning_curve_figure(front, trial_list, tasks)
    sections = [
        _summary(front, trial_list),
        _section("Pareto front", front_note, plots.add(front_fig, "pareto-front")),
        _section("Objectives of all trials", "Each objective by trial number; failed trials "
                 "are marked with x.",
                 plots.add(figures.objectives_figure(front, trial_list), "objectives")),
        _section("Hypervolume over trials", _hypervolume_note(front),
                 plots.add(figures.hypervolume_figure(front, trial_list),
                           "hypervolume-history")),
        _importance_section(importances, plots),
        _section("Parallel coordinates", "One line per complete trial across the searched "
                 "parameters most trials sampled and the objectives, coloured by the first "
                 "objective; drag along an axis to filter. n/a: the trial's topology has no "
                 "such parameter.",
                 plots.add(panels.parallel_figure(front, trial_list), "parallel-coordinates")
                 if figures.complete_trials(trial_list) else
                 '<p class="note">No complete trials yet.</p>'),
        _section("Learning curves", "Each task's validation metric after every epoch, one line "
                 "per trial; the front's trials coloured by topology.",
                 plots.add(curves, "learning-curves") if curves is not None else
                 '<p class="note" id="learning-curves">No trial has stored per-epoch '
                 "validation values yet (they are stored when a trial ends).</p>"),
        _section("The front", "Each Pareto-optimal trial with its architecture and training "
                 "settings, validation objectives and each task's metric on the test split.",
                 _front_table(front, tasks)),
        *([_section("Per-domain metrics", "Each front trial's validation metric (test in "
                    "brackets, when the job has a test split) in each domain; a task's "
                    "objective is the mean over its domains.",
                    _domain_table(front))] if front.get("domains") else []),
        _section("Topologies", "Trials per topology by state, how many reached the front, and "
                 "each topology's best feasible value per objective.",
                 tables.topology_table(front, trial_list)),
        _section("MTL gain over single-task baselines",
                 *(_confirmed_gain_section(confirmation, tasks) if confirmation
                   else _gain_section(front, trial_list, tasks))),
        _section("Expert utilisation", *_utilisation_section(front, trial_list, plots,
                                                             max_utilisation_points)),
        _section("All trials", "Click a column header to sort. A failed trial's error shows "
                 "when hovering over its state.", tables.trials_table(front, trial_list)),
    ]
    head = f"<h1>{_e(title)}</h1>" + (f'<p class="sub">{_e(subtitle)}</p>' if subtitle else "")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
            f"<body><main>{head}{''.join(sections)}</main>{tables.SORT_SCRIPT}</body></html>\n")


def _importance_section(importances: Mapping[str, Mapping[str, float]] | str | None,
                        plots: _Plots) -> str:
    title = "Parameter importances"
    if importances is None:
        return _section(title, "Not computed for this report.", "")
    if isinstance(importances, str):
        return _section(title, importances, '<p class="note" id="param-importances"></p>')
    note = ("How much of each objective's variance across the complete trials each searched "
            "parameter explains (Optuna's fANOVA evaluator, Hutter et al. ICML 2014). Only "
            "parameters every complete trial sampled are evaluated.")
    return _section(title, note, plots.add(panels.importance_figure(importances),
                                           "param-importances"))


class _Plots:
    """Figures as HTML divs; the first one carries Plotly's JavaScript: inline, or a
    ``<script src>`` of the shared file when a URL is given."""

    def __init__(self, plotly_js: str | None = None) -> None:
        self._first = True
        self._plotly_js = plotly_js

    def add(self, fig: Any, div_id: str) -> str:
        height = int(fig.layout.height or 450)
        include: bool | str = (self._plotly_js or True) if self._first else False
        out = pio.to_html(fig, include_plotlyjs=include, full_html=False, div_id=div_id,
                          default_height=f"{height}px", config={"displaylogo": False})
        self._first = False
        return out


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return _e(value)


def _section(title: str, note: str, body: str) -> str:
    note_html = f'<p class="note">{_e(note)}</p>' if note else ""
    return f"<section><h2>{_e(title)}</h2>{note_html}{body}</section>"


def _summary(front: dict[str, Any], trials: list[dict[str, Any]]) -> str:
    states: dict[str, int] = {}
    for trial in trials:
        states[trial.get("state", "?")] = states.get(trial.get("state", "?"), 0) + 1
    reference = ", ".join(f"{k} = {_fmt(v)}" for k, v in front["reference_point"].items())
    stats = [("complete trials", front.get("n_trials", states.get("COMPLETE", 0))),
             ("failed", front.get("n_failed", states.get("FAIL", 0))),
             ("interrupted", front.get("n_interrupted", states.get("INTERRUPTED", 0))),
             ("running", states.get("RUNNING", 0)),
             ("on the front", len(front["trials"])),
             ("dominated", front.get("n_dominated", 0)),
             ("hypervolume", front["hypervolume"])]
    cells = "".join(f'<div class="stat"><b>{_fmt(v)}</b><span>{_e(k)}</span></div>'
                    for k, v in stats)
    objectives = ", ".join(f"{o['name']} ({o['direction']})" for o in front["objectives"])
    zero = zero_hypervolume_note(front)
    warnings = "".join(f'<p class="note warning">Warning: {_e(w)}</p>'
                       for w in [*(front.get("warnings") or []), *([zero] if zero else [])])
    return (f'<section><h2>Summary</h2>{warnings}<p class="note">Objectives (validation '
            f"split): {_e(objectives)}. Hypervolume reference point: {_e(reference)}.</p>"
            f'<div class="stats">{cells}</div></section>')


def _hypervolume_note(front: dict[str, Any]) -> str:
    rules = front.get("reference_rule") or {}
    detail = "; ".join(f"{k}: {v}" for k, v in rules.items())
    return ("The volume dominated by the feasible complete trials up to each trial, against "
            f"the final reference point ({detail}).")


def architecture_summary(candidate: Mapping[str, Any] | None) -> dict[str, str]:
    """Topology, experts, layer widths, weighting and optimiser of a candidate, as text."""
    candidate = candidate or {}
    arch = candidate.get("architecture") or {}
    topology = arch.get("topology", "?")
    own = topology_summary(arch)
    experts, units = own["experts"], own["units"]
    if arch.get("tower_units") is not None:
        units += f", towers {arch.get('tower_units')}"
    weighting = candidate.get("weighting") or {}
    params = weighting.get("params") or {}
    weighting_text = str(weighting.get("name", "?"))
    if params:
        weighting_text += " (" + ", ".join(f"{k}={_fmt(v)}" for k, v in params.items()) + ")"
    train = candidate.get("train") or {}
    lr = train.get("lr")
    optimiser = f"{train.get('optimizer', '')} lr={lr:.3g}" if isinstance(lr, float) else ""
    return {"topology": str(topology), "experts": experts, "units": units, "gate": own["gate"],
            "weighting": weighting_text, "optimiser": optimiser}


def _front_table(front: dict[str, Any], tasks: Sequence[Mapping[str, str]]) -> str:
    if not front["trials"]:
        return '<p class="note">No complete trials yet.</p>'
    names = [o["name"] for o in front["objectives"]]
    tests = [(t["name"], t["metric"]) for t in tasks
             if any(t["metric"] in (e.get("test") or {}).get(t["name"], {})
                    for e in front["trials"])]
    head = ["trial", "topology", "experts", "layer widths", "gate", "weighting", "optimiser",
            *names, *[f"test {task} {metric}" for task, metric in tests], "params"]
    pruning = any(e.get("sparsity") is not None for e in front["trials"])
    if pruning:  # SNR trials: the share of closed connections and what is left
        head += ["closed connections", "effective params"]
    rows = []
    for entry in front["trials"]:
        arch = architecture_summary(entry.get("candidate"))
        cells = [_e(entry["number"]), _e(arch["topology"]), _e(arch["experts"]),
                 _e(arch["units"]), _e(arch["gate"]), _e(arch["weighting"]),
                 _e(arch["optimiser"])]
        cells += [f'<td class="num">{_fmt(entry["values"].get(n))}</td>' for n in names]
        cells += [f'<td class="num">{_fmt((entry.get("test") or {}).get(task, {}).get(metric))}'
                  "</td>" for task, metric in tests]
        cells.append(f'<td class="num">{_fmt(entry.get("num_params"))}</td>')
        if pruning:
            cells += [f'<td class="num">{_fmt(entry.get(key))}</td>'
                      for key in ("sparsity", "effective_params")]
        rows.append("<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>"
                                     for c in cells) + "</tr>")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return (f'<div class="scroll"><table id="front-table"><thead><tr>{header}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _domain_table(front: Mapping[str, Any]) -> str:
    """Front trials x per-domain tasks: the validation metric (and test, when stored)."""
    if not front["trials"]:
        return '<p class="note">No complete trials yet.</p>'
    columns = list(front["domains"])
    head = ["trial", "topology"] + [f"{c['task']} {c['metric']} @ {c['domain']}"
                                    for c in columns]
    rows = []
    for entry in front["trials"]:
        cells = [f"<td>{_e(entry['number'])}</td>",
                 f"<td>{_e(architecture_summary(entry.get('candidate'))['topology'])}</td>"]
        for column in columns:
            valid = (entry.get("valid") or {}).get(column["name"], {}).get(column["metric"])
            test = (entry.get("test") or {}).get(column["name"], {}).get(column["metric"])
            text = _fmt(valid) + (f" ({_fmt(test)})" if test is not None else "")
            cells.append(f'<td class="num">{_e(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return (f'<div class="scroll"><table id="domain-table"><thead><tr>{header}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def mtl_gains(front: Mapping[str, Any], trials: Sequence[Mapping[str, Any]],
              tasks: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """Relative improvement of each front point over the best ``single_task`` trial, per task.

    For task t with validation metric m, the baseline b is the best m among complete,
    feasible ``single_task`` trials; a front point with value v gains ``(v - b) / |b|`` when m
    is maximised and ``(b - v) / |b|`` when minimised (positive = better than the baseline).
    Returns ``{"baselines": {task: {"trial", "value"}}, "gains": {number: {task: gain}}}``;
    empty baselines when no single-task model was trained.
    """
    baselines: dict[str, dict[str, Any]] = {}
    for task in tasks:
        best: tuple[float, int] | None = None
        for trial in trials:
            topology = ((trial.get("candidate") or {}).get("architecture") or {}).get("topology")
            if trial.get("state") != "COMPLETE" or topology != "single_task" or \
                    not trial.get("feasible", True):
                continue
            value = ((trial.get("valid") or {}).get(task["name"]) or {}).get(task["metric"])
            if value is None:
                continue
            better = best is None or (value > best[0] if task["direction"] == "maximize"
                                      else value < best[0])
            if better:
                best = (float(value), int(trial["number"]))
        if best is not None:
            baselines[task["name"]] = {"trial": best[1], "value": best[0]}
    gains: dict[int, dict[str, float | None]] = {}
    for entry in front["trials"]:
        row: dict[str, float | None] = {}
        for task in tasks:
            base = baselines.get(task["name"])
            value = ((entry.get("valid") or {}).get(task["name"]) or {}).get(task["metric"])
            if base is None or value is None or base["value"] == 0:
                row[task["name"]] = None
                continue
            sign = 1.0 if task["direction"] == "maximize" else -1.0
            row[task["name"]] = sign * (float(value) - base["value"]) / abs(base["value"])
        gains[int(entry["number"])] = row
    return {"baselines": baselines, "gains": gains}


def _gain_section(front: dict[str, Any], trials: list[dict[str, Any]],
                  tasks: Sequence[Mapping[str, str]]) -> tuple[str, str]:
    result = mtl_gains(front, trials, tasks)
    baselines = result["baselines"]
    if not baselines:
        return (_no_baseline_reason(trials), "")
    note = ("Not confirmed: relative improvement of each front point's validation metric over "
            "the best single-task model of the search, per task (positive = multi-task learning "
            "helps), from one training run each on the split that also chose the front, so a "
            "small gain may be seed noise. Set confirm.seeds to measure it on the test split. "
            "Baselines: " + "; ".join(
                f"{t}: trial {b['trial']} ({_fmt(b['value'])})" for t, b in baselines.items()))
    head = "".join(f"<th>{_e(t['name'])} ({_e(t['metric'])})</th>" for t in tasks)
    rows = []
    for entry in front["trials"]:
        topology = architecture_summary(entry.get("candidate"))["topology"]
        cells = []
        for task in tasks:
            gain = result["gains"][int(entry["number"])].get(task["name"])
            if gain is None:
                cells.append('<td class="num"></td>')
            else:
                css = "gain-pos" if gain > 0 else ("gain-neg" if gain < 0 else "")
                cells.append(f'<td class="num {css}">{gain * 100:+.2f}%</td>')
        rows.append(f"<tr><td>{_e(entry['number'])}</td><td>{_e(topology)}</td>"
                    f"{''.join(cells)}</tr>")
    table = (f'<div class="scroll"><table id="mtl-gain"><thead><tr><th>trial</th>'
             f"<th>topology</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
    return note, table


def _no_baseline_reason(trials: Sequence[Mapping[str, Any]]) -> str:
    """Why the unconfirmed gain has no single-task baseline, from the single-task trials'
    states: none tried, all stopped early (MO-ASHA), all failed, or none feasible."""
    states = [str(t.get("state")) for t in trials
              if ((t.get("candidate") or {}).get("architecture") or {}).get("topology")
              == "single_task"]
    if not states:
        return ("No single_task trial was run, so there is no baseline: add single_task to the "
                "search space's topologies (or, when it has it, raise budget.trials) to "
                "measure the gain of sharing.")
    pruned = states.count("PRUNED")
    if pruned and "COMPLETE" not in states:
        return (f"No single_task trial finished: early stopping (MO-ASHA) stopped "
                f"{pruned} of {len(states)} before their last epoch, so there is no baseline. "
                "Set confirm.seeds (e.g. 3): confirmation re-trains the best pruned "
                "single-task configuration at the full epochs as the baseline.")
    if all(s == "FAIL" for s in states):
        return (f"All {len(states)} single_task trial(s) failed (see their errors in the trial "
                "table), so there is no baseline.")
    return (f"None of the {len(states)} single_task trial(s) finished feasible (a constraint "
            "refused them, or they are still running), so there is no baseline.")


def _confirmed_gain_section(confirmation: Mapping[str, Any],
                            tasks: Sequence[Mapping[str, str]]) -> tuple[str, str]:
    """The MTL gain from the multi-seed confirmation: per front point and task the mean paired
    difference to the single-task baseline on the test split, its interval, p-value and the
    baseline's seed-to-seed spread, with "within noise" said plainly."""
    seeds = confirmation.get("seeds")
    level = float(confirmation.get("confidence", 0.95))
    gains = confirmation.get("gains") or []
    candidates = confirmation.get("candidates") or []
    if confirmation.get("baseline_trial") is None:
        reason = confirmation.get("baseline_missing") or (
            "no single_task trial was confirmed")
        return (f"Confirmed with {seeds} seeds, but there is no single-task baseline: "
                f"{reason}.", _confirmed_table(candidates, tasks))
    pruned_at = confirmation.get("baseline_pruned_epoch")
    baseline = (f"trial {confirmation['baseline_trial']}, same epochs" if pruned_at is None
                else f"trial {confirmation['baseline_trial']}, which early stopping cut at "
                f"epoch {pruned_at} in the search because no single-task trial finished; "
                "re-trained here at the full epochs like every other candidate")
    note = (f"Confirmed: each front point, the best single-task model ({baseline}) and each "
            "topology's best were "
            f"trained again with {seeds} seeds and scored on the test split, which the search "
            "never used. Gain = mean over seeds of the paired difference to the single-task "
            f"model (positive = multi-task learning helps), with its {level:.0%} Student-t "
            "interval and paired t-test p-value; 'noise' is the single-task model's "
            "seed-to-seed standard deviation. A gain whose interval contains 0 is within noise: "
            "the data do not show that sharing helps or hurts.")
    rows = []
    for gain in gains:
        within = gain.get("within_noise")
        verdict = gain_verdict(gain)
        css = "" if within or within is None else ("gain-pos" if gain["gain"] > 0 else
                                                   "gain-neg")
        interval = (f"[{_fmt(gain['ci_low'])}, {_fmt(gain['ci_high'])}]"
                    if gain.get("ci_low") is not None else "")
        rows.append(
            f"<tr><td>{_e(gain['trial'])}</td><td>{_e(gain['topology'])}</td>"
            f"<td>{_e(gain['task'])} ({_e(gain['metric'])})</td>"
            f'<td class="num {css}">{gain["gain"]:+.4f}</td><td class="num">{_e(interval)}</td>'
            f'<td class="num">{_fmt(gain.get("p_value"))}</td>'
            f'<td class="num">{_fmt(gain.get("baseline_std"))}</td>'
            f"<td>{_e(gain['seeds'])}</td><td>{_e(verdict)}</td></tr>")
    table = ('<div class="scroll"><table id="mtl-gain"><thead><tr><th>trial</th>'
             "<th>topology</th><th>task</th><th>gain (test)</th>"
             f"<th>{level:.0%} interval</th><th>p</th><th>noise (sd)</th><th>seeds</th>"
             f"<th>verdict</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
    return note, table + _confirmed_table(candidates, tasks)


def _confirmed_table(candidates: Sequence[Mapping[str, Any]],
                     tasks: Sequence[Mapping[str, str]]) -> str:
    """Each confirmed candidate's test metric per task: mean ± sd over the seeds."""
    head = "".join(f"<th>{_e(t['name'])} ({_e(t['metric'])})</th>" for t in tasks)
    rows = []
    for item in candidates:
        cells = []
        for task in tasks:
            entry = (item.get("test") or {}).get(task["name"]) or {}
            mean, std = entry.get("mean"), entry.get("std")
            cells.append(f'<td class="num">{_fmt(mean)}'
                         f"{' ± ' + _fmt(std) if std is not None else ''}</td>")
        rows.append(f"<tr><td>{_e(item['trial'])}</td><td>{_e(item.get('topology'))}</td>"
                    f"<td>{_e(', '.join(item.get('roles', [])))}</td>{''.join(cells)}</tr>")
    return ('<div class="scroll"><table id="confirmed"><thead><tr><th>trial</th>'
            f"<th>topology</th><th>role</th>{head}</tr></thead><tbody>{''.join(rows)}"
            "</tbody></table></div>")


def _utilisation_section(front: dict[str, Any], trials: list[dict[str, Any]], plots: _Plots,
                         limit: int) -> tuple[str, str]:
    usage = {int(t["number"]): t.get("gate_utilisation") for t in trials}
    points = []
    for entry in front["trials"]:
        data = usage.get(int(entry["number"])) or entry.get("gate_utilisation")
        if data:
            points.append({"number": entry["number"], "candidate": entry.get("candidate"),
                           "gate_utilisation": data})
    if not points:
        return ("No front point has gates (gate utilisation exists for omoe, mmoe, cgc and "
                "ple models).", "")
    shown = points[:limit]
    note = ("Mean softmax gate weight each task gives each expert on the validation split, "
            "for the gated models on the front" +
            (f" (the first {limit} of {len(points)})" if len(points) > limit else "") +
            ". For cgc/ple, a task's gate mixes its own experts and the shared ones.")
    return note, plots.add(figures.utilisation_figure(shown), "expert-utilisation")


# ---------------------------------------------------------------------------------------------
# from an Optuna study (the local CLI, and the service with its stored gate utilisation)


def report_trials(study: Any, objective_names: list[str],
                  gate_utilisation: Mapping[int, Any] | None = None) -> list[dict[str, Any]]:
    """The report's trial dicts from a study; ``gate_utilisation`` (number -> data) fills in
    what the study does not hold."""
    from automtl.trial_record import outcome_from_trial, record_dict

    front = {t.number for t in study.best_trials}
    out = []
    for trial in study.get_trials(deepcopy=False):
        record = record_dict(outcome_from_trial(trial, objective_names, front))
        if record["gate_utilisation"] is None and gate_utilisation is not None:
            record["gate_utilisation"] = gate_utilisation.get(record["number"])
        out.append(record)
    return out


def report_from_study(study: Any, spec: Any, *, title: str | None = None,
                      subtitle: str | None = None,
                      gate_utilisation: Mapping[int, Any] | None = None,
                      front: Mapping[str, Any] | None = None,
                      plotly_js: str | None = None,
                      redact: Callable[[str | None], str | None] | None = None) -> str:
    """The report page of a job's study (``spec`` is its :class:`~automtl.jobspec.JobSpec`),
    with the parameter importances; ``front`` (already computed) saves reading it twice.
    ``redact`` rewrites each trial's error before it is shown (the service passes its
    server-path scrubber: a failed trial's error names files by their absolute path)."""
    from automtl.report.pareto import pareto_front
    from automtl.trial_record import confirmation_of

    front = dict(front) if front is not None else pareto_front(study, spec)
    trials = report_trials(study, list(spec.objectives), gate_utilisation)
    if redact is not None:
        for trial in trials:
            trial["error"] = redact(trial.get("error"))
    tasks = [{"name": t.name, "metric": str(t.metric), "direction": t.direction}
             for t in spec.tasks]
    from automtl.report.importances import study_importances

    importances = study_importances(study, front["objectives"])
    return build_report_html(front, trials, tasks=tasks,
                             title=title or f"automtl report: {spec.name}", subtitle=subtitle,
                             importances=importances, plotly_js=plotly_js,
                             confirmation=confirmation_of(study))
