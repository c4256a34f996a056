"""Choosing one trial of a Pareto front, explicitly: a weighted sum of normalised objectives.

Each objective is min-max normalised over the front and oriented so that 1 is the front's best
and 0 its worst (``(v - min) / (max - min)`` when maximised, ``(max - v) / (max - min)`` when
minimised; an objective equal on the whole front scores 1 everywhere). A trial's score is the
weighted sum; the highest score wins, ties going to the lowest trial number. Objectives not
named in ``--prefer`` keep weight 1 (equal weights by default), so ``--prefer ctr=1`` on a
job with objectives ctr, cvr and params is equal weights; weight 0 ignores one. Every place a
preference is applied shows the resolved weights of all objectives
(:meth:`Choice.weights_text`): the CLI's export lines, the bundle's README and choice.json,
and the REST export's ``X-Automtl-Weights`` header.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from automtl.export.errors import PreferenceError
from automtl.jobspec import Objective
from search_spaces.document import did_you_mean

DEFAULT_WEIGHT = 1.0
RULE = ("each objective min-max normalised over the front, oriented so 1 is the front's best and "
        "0 its worst (1 everywhere when the front does not vary); score = weighted sum; highest "
        "score wins, ties to the lowest trial number; unnamed objectives weigh 1")


def parse_prefer(text: str | None) -> dict[str, float]:
    """``"ctr=2,cvr=0.5"`` -> ``{"ctr": 2.0, "cvr": 0.5}``; malformed items are errors."""
    weights: dict[str, float] = {}
    if not text:
        return weights
    for item in text.split(","):
        name, sep, value = item.strip().partition("=")
        name = name.strip()
        if not sep or not name:
            raise PreferenceError(f"expected OBJECTIVE=WEIGHT, got {item.strip()!r}")
        try:
            weight = float(value)
        except ValueError:
            raise PreferenceError(f"weight of {name!r} is not a number: {value!r}") from None
        if not math.isfinite(weight) or weight < 0:
            raise PreferenceError(f"weight of {name!r} must be finite and >= 0, got {value}")
        if name in weights:
            raise PreferenceError(f"{name!r} is given twice")
        weights[name] = weight
    return weights


@dataclass(frozen=True)
class ScoredTrial:
    """A front trial with its objective values, their normalised form and its score."""

    number: int
    values: dict[str, float]
    normalised: dict[str, float]
    score: float


@dataclass(frozen=True)
class Choice:
    """The chosen front trial and everything needed to see why (written as ``choice.json``)."""

    number: int
    rule: str
    #: every objective's weight as applied (the named ones, then the default for the rest)
    weights: dict[str, float]
    objectives: list[dict[str, Any]]
    front: list[ScoredTrial]
    reason: str
    #: the objectives the preference did not name, weighted :data:`DEFAULT_WEIGHT`
    defaulted: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def weights_text(self) -> str:
        """``"ctr=2, cvr=1, params=1 (cvr, params not named: weight 1)"``: the resolved
        weight of every objective, and which ones the preference left at the default."""
        text = ", ".join(f"{name}={weight:g}" for name, weight in self.weights.items())
        if self.defaulted and len(self.defaulted) < len(self.weights):
            text += (f" ({', '.join(self.defaulted)} not named: weight "
                     f"{DEFAULT_WEIGHT:g})")
        elif self.defaulted:
            text += " (none named: equal weights)"
        return text

    def weights_header(self) -> str:
        """``"ctr=2,cvr=1,params=1"``: the resolved weights as an HTTP header value (the form
        ``prefer`` takes)."""
        return ",".join(f"{name}={weight:g}" for name, weight in self.weights.items())


def choose_trial(front: Sequence[tuple[int, Mapping[str, float]]],
                 objectives: Sequence[Objective],
                 weights: Mapping[str, float] | None = None) -> Choice:
    """Pick the front trial with the highest weighted sum of normalised objectives.

    ``front`` is ``(trial number, {objective: value})`` per front trial; ``weights`` maps
    objective names to non-negative weights (missing ones get :data:`DEFAULT_WEIGHT`).
    """
    if not front:
        raise ValueError("the front is empty: no complete trial to choose from")
    names = [o.name for o in objectives]
    given = dict(weights or {})
    unknown = sorted(set(given) - set(names))
    if unknown:
        hints = "".join(did_you_mean(name, names) for name in unknown)
        raise PreferenceError(f"unknown objective(s) {unknown}{hints}; valid: {names}")
    resolved = {name: float(given.get(name, DEFAULT_WEIGHT)) for name in names}
    if not any(resolved.values()):
        raise PreferenceError("every weight is 0; give at least one objective a weight")
    summary: list[dict[str, Any]] = []
    normalisers: dict[str, tuple[float, float, str]] = {}
    for objective in objectives:
        column = [_value(number, values, objective.name) for number, values in front]
        low, high = min(column), max(column)
        summary.append({"name": objective.name, "direction": objective.direction,
                        "min": low, "max": high, "weight": resolved[objective.name]})
        normalisers[objective.name] = (low, high, objective.direction)
    scored = []
    for number, values in front:
        normalised = {name: _normalise(_value(number, values, name), *normalisers[name])
                      for name in names}
        score = sum(resolved[name] * normalised[name] for name in names)
        scored.append(ScoredTrial(number, {n: float(values[n]) for n in names}, normalised,
                                  score))
    best = max(scored, key=lambda t: (t.score, -t.number))
    ranked = sorted(scored, key=lambda t: (-t.score, t.number))
    runner_up = next((t for t in ranked if t.number != best.number), None)
    terms = " + ".join(f"{resolved[n]:g}*{n}" for n in names)
    reason = (f"trial {best.number} has the highest weighted score {best.score:.4f} "
              f"({terms}, objectives min-max normalised over the {len(front)}-trial front, "
              f"1 = best)")
    if runner_up is not None:
        reason += f"; next is trial {runner_up.number} with {runner_up.score:.4f}"
    return Choice(number=best.number, rule=RULE,
                  weights=resolved, objectives=summary,
                  front=sorted(scored, key=lambda t: t.number), reason=reason,
                  defaulted=[name for name in names if name not in given])


def _value(number: int, values: Mapping[str, float], name: str) -> float:
    if name not in values or values[name] is None or not math.isfinite(float(values[name])):
        raise ValueError(f"front trial {number} has no finite value for objective {name!r}")
    return float(values[name])


def _normalise(value: float, low: float, high: float, direction: str) -> float:
    if high == low:
        return 1.0
    share = (value - low) / (high - low)
    return share if direction == "maximize" else 1.0 - share
