"""Plotly figures of a search report, built from plain data (see :mod:`automtl.report.html`).

Each function takes the front dict of :func:`automtl.report.pareto.pareto_front` and/or the
report's trial dicts and returns a ``plotly.graph_objects.Figure``; nothing here reads a study.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from automtl.report.architecture import task_experts
from automtl.report.pareto import hypervolume

FRONT_COLOUR = "#d62728"
OTHER_COLOUR = "#9aa5b1"
FAILED_COLOUR = "#444444"


def complete_trials(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trials with objective values, by number."""
    done = [t for t in trials if t.get("state") == "COMPLETE" and t.get("values")]
    return sorted(done, key=lambda t: t["number"])


def _label(trial: dict[str, Any]) -> str:
    candidate = trial.get("candidate") or {}
    topology = (candidate.get("architecture") or {}).get("topology", "?")
    weighting = (candidate.get("weighting") or {}).get("name", "?")
    values = ", ".join(f"{k}={v:.4g}" for k, v in (trial.get("values") or {}).items())
    return f"trial {trial['number']}: {topology} / {weighting}<br>{values}"


def _axis_title(objective: dict[str, str]) -> str:
    arrow = "higher is better" if objective["direction"] == "maximize" else "lower is better"
    return f"{objective['name']} (validation, {arrow})"


def front_figure(front: dict[str, Any], trials: list[dict[str, Any]]) -> go.Figure:
    """All complete trials with the front highlighted: a scatter for one or two objectives,
    parallel coordinates for more."""
    objectives = front["objectives"]
    names = [o["name"] for o in objectives]
    on_front = {t["number"] for t in front["trials"]}
    done = complete_trials(trials)
    if len(names) > 2:
        return _parallel_front(objectives, done, on_front)
    others = [t for t in done if t["number"] not in on_front]
    best = sorted((t for t in done if t["number"] in on_front),
                  key=lambda t: t["values"][names[0]])

    def xy(group: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
        if len(names) == 1:
            return [t["number"] for t in group], [t["values"][names[0]] for t in group]
        return [t["values"][names[0]] for t in group], [t["values"][names[1]] for t in group]

    fig = go.Figure()
    x, y = xy(others)
    fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name="other trials",
                             marker={"color": OTHER_COLOUR, "size": 9, "opacity": 0.8},
                             text=[_label(t) for t in others], hoverinfo="text"))
    x, y = xy(best)
    fig.add_trace(go.Scatter(x=x, y=y, mode="markers+lines+text" if len(names) == 2
                             else "markers+text", name="Pareto front",
                             line={"color": FRONT_COLOUR, "dash": "dot", "width": 1},
                             marker={"color": FRONT_COLOUR, "size": 13, "symbol": "diamond",
                                     "line": {"color": "white", "width": 1}},
                             text=[str(t["number"]) for t in best], textposition="top center",
                             hovertext=[_label(t) for t in best], hoverinfo="text"))
    if len(names) == 1:
        fig.update_layout(xaxis_title="trial number", yaxis_title=_axis_title(objectives[0]))
        _integer_axis(fig, [t["number"] for t in done])
    else:
        fig.update_layout(xaxis_title=_axis_title(objectives[0]),
                          yaxis_title=_axis_title(objectives[1]))
    return _styled(fig, height=520)


def _parallel_front(objectives: list[dict[str, str]], done: list[dict[str, Any]],
                    on_front: set[int]) -> go.Figure:
    colour = [1 if t["number"] in on_front else 0 for t in done]
    dimensions = [{"label": _axis_title(o), "values": [t["values"][o["name"]] for t in done]}
                  for o in objectives]
    dimensions.insert(0, {"label": "trial", "values": [t["number"] for t in done]})
    fig = go.Figure(go.Parcoords(
        line={"color": colour, "colorscale": [[0, OTHER_COLOUR], [1, FRONT_COLOUR]],
              "cmin": 0, "cmax": 1},
        dimensions=dimensions))
    fig.add_annotation(text="red: Pareto front, grey: other complete trials", showarrow=False,
                       xref="paper", yref="paper", x=0, y=-0.12)
    return _styled(fig, height=520)


def objectives_figure(front: dict[str, Any], trials: list[dict[str, Any]]) -> go.Figure:
    """Each objective over the trial number, front trials highlighted, failures marked."""
    objectives = front["objectives"]
    on_front = {t["number"] for t in front["trials"]}
    done = complete_trials(trials)
    failed = sorted(t["number"] for t in trials if t.get("state") == "FAIL")
    fig = make_subplots(rows=len(objectives), cols=1, shared_xaxes=True,
                        vertical_spacing=0.08, subplot_titles=[_axis_title(o) for o in objectives])
    for row, objective in enumerate(objectives, start=1):
        name = objective["name"]
        for is_front, colour, label in ((False, OTHER_COLOUR, "other trials"),
                                        (True, FRONT_COLOUR, "Pareto front")):
            group = [t for t in done if (t["number"] in on_front) == is_front]
            fig.add_trace(go.Scatter(
                x=[t["number"] for t in group], y=[t["values"][name] for t in group],
                mode="markers", name=label, legendgroup=label, showlegend=row == 1,
                marker={"color": colour, "size": 10 if is_front else 8,
                        "symbol": "diamond" if is_front else "circle"},
                text=[_label(t) for t in group], hoverinfo="text"), row=row, col=1)
        if failed:
            values = [t["values"][name] for t in done]
            floor = min(values) if values else 0.0
            fig.add_trace(go.Scatter(
                x=failed, y=[floor] * len(failed), mode="markers", name="failed",
                legendgroup="failed", showlegend=row == 1,
                marker={"color": FAILED_COLOUR, "symbol": "x", "size": 8}), row=row, col=1)
    fig.update_xaxes(title_text="trial number", row=len(objectives), col=1)
    _integer_axis(fig, [t["number"] for t in trials])
    return _styled(fig, height=220 * len(objectives) + 80)


def hypervolume_history(front: dict[str, Any],
                        trials: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """``(trial number, hypervolume of the feasible complete trials up to it)``, against the
    front's final reference point, so the curve ends at the reported hypervolume."""
    objectives = front["objectives"]
    names = [o["name"] for o in objectives]
    directions = [o["direction"] for o in objectives]
    reference = [front["reference_point"].get(n) for n in names]
    if any(r is None for r in reference):
        return []
    history = []
    feasible: list[list[float]] = []
    for trial in complete_trials(trials):
        if trial.get("feasible", True):
            feasible.append([float(trial["values"][n]) for n in names])
        volume = hypervolume(np.array(feasible), directions, reference) if feasible else 0.0
        history.append((trial["number"], volume))
    return history


def hypervolume_figure(front: dict[str, Any], trials: list[dict[str, Any]]) -> go.Figure:
    history = hypervolume_history(front, trials)
    fig = go.Figure(go.Scatter(x=[n for n, _ in history], y=[v for _, v in history],
                               mode="lines+markers", line={"shape": "hv", "color": "#1f77b4"},
                               name="hypervolume"))
    fig.update_layout(xaxis_title="trial number", yaxis_title="hypervolume of the front so far",
                      showlegend=False)
    _integer_axis(fig, [n for n, _ in history])
    return _styled(fig, height=360)


def expert_labels(candidate: dict[str, Any] | None, count: int) -> list[str]:
    """Names of a gate's inputs: CGC/PLE task gates see the task's own experts, then shared."""
    own = task_experts((candidate or {}).get("architecture") or {})
    if own:
        shared = count - own
        if shared >= 0:
            return [f"own {i + 1}" for i in range(own)] + \
                [f"shared {i + 1}" for i in range(shared)]
    return [f"expert {i + 1}" for i in range(count)]


def utilisation_figure(points: list[dict[str, Any]]) -> go.Figure:
    """A heatmap per trial: mean gate weight of each task (rows) on each expert (columns)."""
    fig = make_subplots(rows=1, cols=len(points), horizontal_spacing=0.12,
                        subplot_titles=[_short_title(p) for p in points])
    for col, point in enumerate(points, start=1):
        usage = point["gate_utilisation"]
        tasks = list(usage)
        width = max(len(v) for v in usage.values())
        z = [list(usage[t]) + [None] * (width - len(usage[t])) for t in tasks]
        fig.add_trace(go.Heatmap(
            z=z, x=expert_labels(point.get("candidate"), width), y=tasks, zmin=0.0, zmax=1.0,
            colorscale="Blues", showscale=col == len(points),
            text=[[f"{v:.2f}" if v is not None else "" for v in row] for row in z],
            texttemplate="%{text}", hovertemplate="task %{y}, %{x}: %{z:.3f}<extra></extra>"),
            row=1, col=col)
    fig.update_yaxes(autorange="reversed")  # the first task on top
    return _styled(fig, height=120 + 60 * max(len(p["gate_utilisation"]) for p in points))


def _short_title(point: dict[str, Any]) -> str:
    topology = ((point.get("candidate") or {}).get("architecture") or {}).get("topology", "?")
    return f"trial {point['number']} ({topology})"


def _integer_axis(fig: go.Figure, numbers: list[int]) -> None:
    """Trial-number axes tick whole numbers only (every one while there are few)."""
    if numbers and max(numbers) <= 20:
        fig.update_xaxes(tickmode="linear", tick0=0, dtick=1)
    else:
        fig.update_xaxes(tickformat="d")


def _styled(fig: go.Figure, height: int) -> go.Figure:
    fig.update_xaxes(zeroline=False)
    fig.update_yaxes(zeroline=False)
    fig.update_layout(template="plotly_white", height=height,
                      margin={"l": 60, "r": 30, "t": 50, "b": 60},
                      legend={"orientation": "h", "y": 1.08, "x": 0},
                      font={"family": "system-ui, -apple-system, Segoe UI, sans-serif"})
    return fig
