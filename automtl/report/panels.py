"""The report's exploration panels: the front zoomed and coloured by topology, parameter
importances, parallel coordinates over the searched parameters and per-trial learning curves.

Like :mod:`automtl.report.figures`, each function takes plain data (the front dict of
:func:`automtl.report.pareto.pareto_front` and the report's trial dicts, see
:mod:`automtl.report.html`) and returns a ``plotly.graph_objects.Figure``; the importances
themselves come from :mod:`automtl.report.importances` (``param_importances`` is re-exported
here).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from automtl.report.figures import OTHER_COLOUR, _styled, complete_trials
from automtl.report.importances import param_importances as param_importances  # noqa: F401
from automtl.report.pareto import objective_label

#: one colour per topology, stable across reports (the order of the DESIGN's topology list)
TOPOLOGY_ORDER = ("single_task", "shared_bottom", "omoe", "mmoe", "cgc", "ple", "snr_trans",
                  "snr_avg", "cross_stitch")
#: Tukey's fences: values beyond Q1 - k*IQR or Q3 + k*IQR are outliers for the zoomed view
FENCE = 1.5
#: assumed plot size in pixels and text size, to keep point labels apart
_PLOT_PX = (1100.0, 400.0)
_CHAR_PX = (7.0, 14.0)
#: half the size of a front marker, in pixels
_MARKER_PX = 8.0


def topology_of(trial: Mapping[str, Any]) -> str:
    return str(((trial.get("candidate") or {}).get("architecture") or {}).get("topology", "?"))


def topology_colours(topologies: Sequence[str]) -> dict[str, str]:
    """A fixed colour per known topology (Plotly's D3 palette), others after them."""
    palette = qualitative.D3 + qualitative.Set2
    known = {name: palette[i] for i, name in enumerate(TOPOLOGY_ORDER)}
    extra = sorted(t for t in set(topologies) if t not in known)
    for i, name in enumerate(extra):
        known[name] = palette[(len(TOPOLOGY_ORDER) + i) % len(palette)]
    return known


def axis_title(objective: Mapping[str, Any]) -> str:
    """``"ctr auc (valid), higher is better"``: task, metric, split and direction."""
    arrow = "higher is better" if objective["direction"] == "maximize" else "lower is better"
    return f"{objective_label(dict(objective))}, {arrow}"


def focus_range(values: Sequence[float], keep: Sequence[float]) -> list[float] | None:
    """An axis range that leaves out outliers (beyond Tukey's fences, ``FENCE`` x IQR) but
    always shows every value in ``keep`` (the front); ``None`` when nothing is left out."""
    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if data.size < 4:
        return None
    q1, q3 = np.percentile(data, [25, 75])
    spread = q3 - q1
    inside = data[(data >= q1 - FENCE * spread) & (data <= q3 + FENCE * spread)]
    kept = np.concatenate([inside, np.asarray(list(keep), dtype=float)])
    low, high = float(kept.min()), float(kept.max())
    if low <= data.min() and high >= data.max():
        return None
    pad = 0.06 * (high - low or abs(high) or 1.0)
    return [low - pad, high + pad]


_POSITIONS = (("top center", 0.0, 1.0), ("bottom center", 0.0, -1.0),
              ("middle right", 1.0, 0.0), ("middle left", -1.0, 0.0),
              ("top right", 1.0, 1.0), ("bottom left", -1.0, -1.0),
              ("top left", -1.0, 1.0), ("bottom right", 1.0, -1.0))


def label_positions(points: Sequence[tuple[float, float]], labels: Sequence[str],
                    x_range: Sequence[float], y_range: Sequence[float]) -> list[str]:
    """A Plotly ``textposition`` per point so that no two labels' boxes overlap each other or
    another point's marker, chosen greedily; ``""`` hides a label that fits nowhere (it stays in
    the hover text). Coordinates are scaled to pixels of a plot of about ``_PLOT_PX``."""
    sx = _PLOT_PX[0] / ((x_range[1] - x_range[0]) or 1.0)
    sy = _PLOT_PX[1] / ((y_range[1] - y_range[0]) or 1.0)
    pixels = [((x - x_range[0]) * sx, (y - y_range[0]) * sy) for x, y in points]
    marker = _MARKER_PX
    taken: list[tuple[float, float, float, float]] = [
        (px - marker, py - marker, px + marker, py + marker) for px, py in pixels]
    out = []
    for (px, py), label in zip(pixels, labels, strict=True):
        width, height = _CHAR_PX[0] * len(label), _CHAR_PX[1]
        chosen = ""
        for name, dx, dy in _POSITIONS:
            cx = px + dx * (marker + width / 2 + 2)
            cy = py + dy * (marker + height / 2 + 1)
            box = (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
            own = (px - marker, py - marker, px + marker, py + marker)
            if not any(_overlap(box, other) for other in taken if other != own):
                chosen = name
                taken.append(box)
                break
        out.append(chosen)
    return out


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _hover(trial: Mapping[str, Any]) -> str:
    weighting = ((trial.get("candidate") or {}).get("weighting") or {}).get("name", "?")
    values = "<br>".join(f"{k} = {v:.4g}" for k, v in (trial.get("values") or {}).items())
    return f"trial {trial['number']}: {topology_of(trial)} / {weighting}<br>{values}"


def zoomed_front_figure(front: Mapping[str, Any],
                        trials: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Two objectives: every complete trial coloured by topology, the front as outlined
    diamonds joined by a line and labelled by trial number without overlap; the axes start
    zoomed on the front and the trials near it (outliers beyond Tukey's fences left out), with
    a "full view" button (and double-click) for every trial."""
    objectives = list(front["objectives"])
    names = [o["name"] for o in objectives]
    on_front = {t["number"] for t in front["trials"]}
    done = complete_trials([dict(t) for t in trials])
    colours = topology_colours([topology_of(t) for t in done])
    fig = go.Figure()
    best = sorted((t for t in done if t["number"] in on_front), key=lambda t: t["values"][names[0]])
    fig.add_trace(go.Scatter(
        x=[t["values"][names[0]] for t in best], y=[t["values"][names[1]] for t in best],
        mode="lines", name="Pareto front", hoverinfo="skip",
        line={"color": "#1f2933", "dash": "dot", "width": 1.5}))
    for topology in sorted({topology_of(t) for t in done}, key=_topology_key):
        group = [t for t in done if topology_of(t) == topology]
        fig.add_trace(go.Scatter(
            x=[t["values"][names[0]] for t in group], y=[t["values"][names[1]] for t in group],
            mode="markers", name=topology, legendgroup=topology,
            marker={"color": colours[topology], "opacity": 0.85,
                    "size": [15 if t["number"] in on_front else 9 for t in group],
                    "symbol": ["diamond" if t["number"] in on_front else "circle"
                               for t in group],
                    "line": {"color": ["#1f2933" if t["number"] in on_front else "white"
                                       for t in group], "width": 1.5}},
            hovertext=[_hover(t) for t in group], hoverinfo="text"))
    xs = [t["values"][names[0]] for t in done]
    ys = [t["values"][names[1]] for t in done]
    x_zoom = focus_range(xs, [t["values"][names[0]] for t in best])
    y_zoom = focus_range(ys, [t["values"][names[1]] for t in best])
    if best:
        x_view = x_zoom or _span(xs)
        y_view = y_zoom or _span(ys)
        labels = [str(t["number"]) for t in best]
        points = [(t["values"][names[0]], t["values"][names[1]]) for t in best]
        positions = label_positions(points, labels, x_view, y_view)
        offsets = {name: (dx, dy) for name, dx, dy in _POSITIONS}
        for (x, y), label, position in zip(points, labels, positions, strict=True):
            if not position:
                continue  # no room: the number stays in the hover text
            dx, dy = offsets[position]
            width = _CHAR_PX[0] * len(label)
            fig.add_annotation(x=x, y=y, text=label, showarrow=False,
                               xshift=dx * (_MARKER_PX + width / 2 + 2),
                               yshift=dy * (_MARKER_PX + _CHAR_PX[1] / 2 + 1),
                               font={"size": 12, "color": "#1f2933"})
    fig.update_layout(xaxis_title=axis_title(objectives[0]),
                      yaxis_title=axis_title(objectives[1]))
    if x_zoom or y_zoom:
        x_range: Sequence[float] = x_zoom or _span(xs)
        y_range: Sequence[float] = y_zoom or _span(ys)
        zoom = {"xaxis.range": x_range, "yaxis.range": y_range,
                "xaxis.autorange": False, "yaxis.autorange": False}
        fig.update_xaxes(range=x_range)
        fig.update_yaxes(range=y_range)
        fig.update_layout(updatemenus=[{
            "type": "buttons", "direction": "right", "x": 1.0, "xanchor": "right", "y": 1.16,
            "showactive": True, "active": 0,
            "buttons": [{"label": "Zoom to the front", "method": "relayout", "args": [zoom]},
                        {"label": "Full view", "method": "relayout",
                         "args": [{"xaxis.autorange": True, "yaxis.autorange": True}]}]}])
        hidden = sum(1 for x, y in zip(xs, ys, strict=True)
                     if not (_within(x, x_range) and _within(y, y_range)))
        fig.add_annotation(text=f"zoomed: {hidden} outlying trial(s) outside the view "
                                "(\"Full view\" or double-click shows all)",
                           showarrow=False, xref="paper", yref="paper", x=0, y=-0.2,
                           xanchor="left", font={"size": 11, "color": "#52606d"})
    fig = _styled(fig, height=560)
    fig.update_layout(legend={"orientation": "h", "y": 1.16, "x": 0},
                      margin={"l": 70, "r": 30, "t": 80, "b": 90})
    return fig


def _within(value: float, bounds: Sequence[float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def _span(values: Sequence[float]) -> list[float]:
    low, high = min(values), max(values)
    pad = 0.06 * (high - low or abs(high) or 1.0)
    return [low - pad, high + pad]


def _topology_key(name: str) -> tuple[int, str]:
    return (TOPOLOGY_ORDER.index(name) if name in TOPOLOGY_ORDER else len(TOPOLOGY_ORDER), name)


# ---------------------------------------------------------------------------------------------
# parameter importances


def importance_figure(importances: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """Horizontal bars: each parameter's importance for each objective."""
    params = sorted({p for values in importances.values() for p in values},
                    key=lambda p: -max(v.get(p, 0.0) for v in importances.values()))
    fig = go.Figure()
    for label, values in importances.items():
        fig.add_trace(go.Bar(y=params, x=[values.get(p, 0.0) for p in params], orientation="h",
                             name=label, hovertemplate="%{y}: %{x:.3f}<extra>" + label +
                             "</extra>"))
    fig.update_layout(barmode="group", xaxis_title="importance (fANOVA, sums to 1 per "
                                                   "objective)",
                      yaxis={"autorange": "reversed", "automargin": True})
    return _styled(fig, height=140 + 26 * len(params) * max(1, len(importances)))


# ---------------------------------------------------------------------------------------------
# parallel coordinates over the searched parameters

NOT_SAMPLED = "n/a"
#: at most this many parameter axes (those sampled by the most trials, at least half of them)
MAX_PARALLEL_PARAMS = 10


def parameter_dimensions(trials: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Plotly ``Parcoords`` dimensions, one per searched parameter of the trials.

    Only parameters sampled by at least half of the trials, at most ``MAX_PARALLEL_PARAMS``
    of them (the trials table lists all). Numbers stay numbers; categories become their index
    with the names as ticks. A trial
    that did not sample a conditional parameter gets the tick ``"n/a"`` (a value below the
    sampled ones), since a parallel-coordinates line needs a value on every axis.
    """
    counts: dict[str, int] = {}
    for trial in trials:
        for key in trial.get("params") or {}:
            counts[key] = counts.get(key, 0) + 1
    # the parameters most trials sampled (a branch's own ones only clutter the plot)
    common = [k for k, n in counts.items() if n * 2 >= len(trials)]
    names = sorted(sorted(common, key=lambda k: -counts[k])[:MAX_PARALLEL_PARAMS])
    dimensions = []
    for name in names:
        raw = [(t.get("params") or {}).get(name) for t in trials]
        present = [v for v in raw if v is not None]
        missing = len(present) < len(raw)
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
        if numeric and len(set(present)) > 1:
            low, high = min(present), max(present)
            log = low > 0 and high / low >= 100
            values = [math.log10(v) if log and v is not None else v for v in raw]
            shown = [v for v in values if v is not None]
            gap = 0.15 * ((max(shown) - min(shown)) or 1.0)
            floor = min(shown) - gap
            dim: dict[str, Any] = {"label": f"log10 {name}" if log else name,
                                   "values": [floor if v is None else v for v in values]}
            if missing:
                ticks = list(np.linspace(min(shown), max(shown), 4))
                dim["tickvals"] = [floor, *ticks]
                dim["ticktext"] = [NOT_SAMPLED, *[f"{v:.3g}" for v in ticks]]
        else:
            categories = sorted({str(v) for v in present})
            if missing:
                categories = [NOT_SAMPLED, *categories]
            index = {c: i for i, c in enumerate(categories)}
            dim = {"label": name, "tickvals": list(range(len(categories))),
                   "ticktext": categories,
                   "values": [index[NOT_SAMPLED if v is None else str(v)] for v in raw]}
        dimensions.append(dim)
    return dimensions


def parallel_figure(front: Mapping[str, Any], trials: Sequence[Mapping[str, Any]]) -> go.Figure:
    """One line per complete trial across its searched parameters and objectives, coloured by
    the first objective (drag along an axis to filter)."""
    done = complete_trials([dict(t) for t in trials])
    objectives = list(front["objectives"])
    dimensions = parameter_dimensions(done)
    for objective in objectives:
        dimensions.append({"label": objective_label(dict(objective)),
                           "values": [t["values"][objective["name"]] for t in done]})
    first = objectives[0]
    fig = go.Figure(go.Parcoords(
        line={"color": [t["values"][first["name"]] for t in done],
              "colorscale": "Viridis", "reversescale": first["direction"] == "minimize",
              "showscale": True, "colorbar": {"title": {"text": objective_label(dict(first)),
                                                        "side": "right"}}},
        labelangle=-20, labelside="bottom", dimensions=dimensions))
    fig = _styled(fig, height=520)
    fig.update_layout(margin={"l": 80, "r": 80, "t": 40, "b": 110})
    return fig


# ---------------------------------------------------------------------------------------------
# learning curves


def learning_curve_figure(front: Mapping[str, Any], trials: Sequence[Mapping[str, Any]],
                          tasks: Sequence[Mapping[str, str]]) -> go.Figure | None:
    """Each task's validation metric per epoch, one line per trial (front trials coloured by
    topology, the others grey); ``None`` when no trial stored a curve."""
    with_curves = [t for t in trials if t.get("learning_curve")]
    if not with_curves:
        return None
    on_front = {t["number"] for t in front["trials"]}
    colours = topology_colours([topology_of(t) for t in with_curves])
    keys = [(t["name"], t["metric"]) for t in tasks
            if any(f"{t['name']}/{t['metric']}" in c["learning_curve"] for c in with_curves)]
    if not keys:
        return None
    fig = make_subplots(rows=1, cols=len(keys), horizontal_spacing=0.08,
                        subplot_titles=[f"{task} {metric} (valid)" for task, metric in keys])
    shown_legend: set[str] = set()
    ordered = sorted(with_curves, key=lambda t: (t["number"] in on_front, t["number"]))
    for col, (task, metric) in enumerate(keys, start=1):
        for trial in ordered:
            curve = trial["learning_curve"]
            series = curve.get(f"{task}/{metric}")
            if not series:
                continue
            front_point = trial["number"] in on_front
            topology = topology_of(trial)
            legend = f"front: {topology}" if front_point else "other trials"
            fig.add_trace(go.Scatter(
                x=curve["epoch"][:len(series)], y=series, mode="lines+markers",
                line={"color": colours[topology] if front_point else OTHER_COLOUR,
                      "width": 2.5 if front_point else 1},
                marker={"size": 5 if front_point else 3},
                opacity=1.0 if front_point else 0.5, name=legend, legendgroup=legend,
                showlegend=legend not in shown_legend,
                hovertemplate=f"trial {trial['number']} ({topology})<br>epoch %{{x}}: "
                              "%{y:.4g}<extra></extra>"), row=1, col=col)
            shown_legend.add(legend)
        fig.update_xaxes(title_text="epoch", tickmode="linear", tick0=1, dtick=1, row=1, col=col)
    fig = _styled(fig, height=440)
    fig.update_layout(legend={"orientation": "h", "y": 1.2, "x": 0},
                      margin={"l": 60, "r": 30, "t": 90, "b": 60})
    return fig
