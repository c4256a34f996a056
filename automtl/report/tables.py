"""The report's HTML tables of every trial (sortable) and of each topology's counts and bests.

Both take the report's plain trial dicts (see :mod:`automtl.report.html`) and the front dict of
:func:`automtl.report.pareto.pareto_front`, and return an HTML fragment.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from automtl.report.panels import _topology_key, topology_of
from automtl.report.pareto import objective_label
from automtl.trial_record import state_label

#: clicking a header of a ``table.sortable`` sorts by that column (numbers numerically, empty
#: cells last); clicking again reverses. Plain DOM, no library.
SORT_SCRIPT = """
<script>
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.style.cursor = "pointer";
    th.title = "sort";
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var up = th.getAttribute("data-sort") !== "asc";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-sort"); });
      th.setAttribute("data-sort", up ? "asc" : "desc");
      function key(row) {
        var cell = row.cells[col];
        var text = cell ? (cell.getAttribute("data-value") || cell.textContent).trim() : "";
        var num = parseFloat(text);
        return text === "" ? null : (isNaN(num) || !/^[-+0-9.eE]+$/.test(text) ? text : num);
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null) return 1;
        if (y === null) return -1;
        var c = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0)
                                        : (typeof x === "number" ? -1 : 1);
        return up ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
</script>
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _cell(value: Any) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, bool):
        return f"<td>{'yes' if value else ''}</td>"
    if isinstance(value, int | float):
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        return f'<td class="num" data-value="{value!r}">{text}</td>'
    if isinstance(value, list | dict):
        return f"<td>{_e(json.dumps(value))}</td>"
    return f"<td>{_e(value)}</td>"


def trials_table(front: Mapping[str, Any], trials: Sequence[Mapping[str, Any]]) -> str:
    """Every trial, any state: number, state, topology, weighting, objectives, cost, duration
    and each searched parameter (blank where a conditional one was not sampled)."""
    if not trials:
        return '<p class="note">No trials yet.</p>'
    objectives = list(front["objectives"])
    on_front = {t["number"] for t in front["trials"]}
    params = sorted({k for t in trials for k in (t.get("params") or {})})
    head = ["trial", "state", "on front", "topology", "weighting",
            *[objective_label(dict(o)) for o in objectives], "parameters (count)",
            "duration (s)", *params]
    rows = []
    for trial in sorted(trials, key=lambda t: t["number"]):
        weighting = ((trial.get("candidate") or {}).get("weighting") or {}).get("name")
        values = trial.get("values") or {}
        error = (trial.get("error") or "").splitlines()[0][:120] if trial.get("error") else ""
        state = state_label(str(trial.get("state")), trial.get("interrupted"))
        state_cell = (f'<td title="{_e(error)}">{_e(state)}</td>' if error
                      else f"<td>{_e(state)}</td>")
        cells = [_cell(trial["number"]), state_cell, _cell(trial["number"] in on_front),
                 _cell(topology_of(trial)), _cell(weighting),
                 *[_cell(values.get(o["name"])) for o in objectives],
                 _cell(trial.get("num_params")), _cell(trial.get("duration_s")),
                 *[_cell((trial.get("params") or {}).get(p)) for p in params]]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return (f'<div class="scroll tall"><table id="trials-table" class="sortable"><thead><tr>'
            f"{header}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def topology_summary(front: Mapping[str, Any], trials: Sequence[Mapping[str, Any]]
                     ) -> list[dict[str, Any]]:
    """Per topology: trial counts by state, how many are on the front, and the best feasible
    complete trial (number and value) of each objective."""
    objectives = list(front["objectives"])
    on_front = {t["number"] for t in front["trials"]}
    out = []
    for topology in sorted({topology_of(t) for t in trials}, key=_topology_key):
        group = [t for t in trials if topology_of(t) == topology]
        states: dict[str, int] = {}
        for trial in group:
            states[str(trial.get("state"))] = states.get(str(trial.get("state")), 0) + 1
        row: dict[str, Any] = {"topology": topology, "trials": len(group),
                               "complete": states.get("COMPLETE", 0),
                               "failed": states.get("FAIL", 0),
                               "interrupted": states.get("INTERRUPTED", 0),
                               "pruned": states.get("PRUNED", 0),
                               "running": states.get("RUNNING", 0),
                               "on_front": sum(1 for t in group if t["number"] in on_front),
                               "best": {}}
        done = [t for t in group if t.get("state") == "COMPLETE" and t.get("values")
                and t.get("feasible", True)]
        for objective in objectives:
            name = objective["name"]
            scored = [t for t in done if t["values"].get(name) is not None]
            if scored:
                values = [float(t["values"][name]) for t in scored]
                best = (max if objective["direction"] == "maximize" else min)(values)
                pick = scored[values.index(best)]
                row["best"][name] = {"trial": pick["number"], "value": pick["values"][name]}
        out.append(row)
    return out


def topology_table(front: Mapping[str, Any], trials: Sequence[Mapping[str, Any]]) -> str:
    """:func:`topology_summary` as a sortable table."""
    rows = topology_summary(front, trials)
    if not rows:
        return '<p class="note">No trials yet.</p>'
    objectives = list(front["objectives"])
    head = ["topology", "trials", "complete", "failed", "interrupted", "pruned", "running",
            "on front",
            *[f"best {objective_label(dict(o))}" for o in objectives]]
    body = []
    for row in rows:
        cells = [_cell(row["topology"]), *[_cell(row[k]) for k in
                                           ("trials", "complete", "failed", "interrupted",
                                            "pruned", "running", "on_front")]]
        for objective in objectives:
            best = row["best"].get(objective["name"])
            cells.append("<td></td>" if best is None else
                         f'<td class="num" data-value="{best["value"]!r}">{best["value"]:.4g} '
                         f'<span class="muted">(trial {best["trial"]})</span></td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return (f'<div class="scroll"><table id="topology-table" class="sortable"><thead><tr>'
            f"{header}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
