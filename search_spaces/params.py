"""The value kinds of the DSL, each compiled to exactly one kind of ``trial.suggest_*`` call.

A parameter is a :class:`Constant` (no trial call), an :class:`IntRange`, a :class:`FloatRange`,
a :class:`Categorical` list, or a :class:`LayerStack` (layer widths as a width, a depth and an
optional shrink factor, each itself one of the first four). Categorical choices that are lists
(layer widths) are stored in Optuna as strings such as ``"128-64"`` (``"none"`` for no layer),
because Optuna's storages accept only None/bool/int/float/str choices.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Protocol

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import BaseTrial

StoredChoice = None | bool | int | float | str


class Param(Protocol):
    """What every value kind offers to the compiler, the size report and the range checks."""

    def suggest(self, trial: BaseTrial, name: str) -> Any: ...

    def distributions(self, name: str) -> dict[str, BaseDistribution]: ...

    def combinations(self) -> int | None:
        """Number of distinct values; ``None`` when continuous."""
        ...

    def describe(self) -> str: ...

    def values_for_checks(self) -> tuple[Any, ...]:
        """Values whose validity implies every value's (the ends of a range, every choice)."""
        ...


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def units_label(units: list[int]) -> str:
    """The string Optuna stores for a list of layer widths: ``[128, 64] -> "128-64"``."""
    return "-".join(str(u) for u in units) if units else "none"


@dataclass(frozen=True)
class Constant:
    value: Any

    def suggest(self, trial: BaseTrial, name: str) -> Any:
        return copy.deepcopy(self.value)

    def distributions(self, name: str) -> dict[str, BaseDistribution]:
        return {}

    def combinations(self) -> int | None:
        return 1

    def describe(self) -> str:
        return f"= {format_value(self.value)}"

    def values_for_checks(self) -> tuple[Any, ...]:
        return (self.value,)


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    log: bool = False
    step: int = 1

    def suggest(self, trial: BaseTrial, name: str) -> int:
        return int(trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log))

    def distributions(self, name: str) -> dict[str, BaseDistribution]:
        return {name: IntDistribution(self.low, self.high, log=self.log, step=self.step)}

    def combinations(self) -> int | None:
        return (self.high - self.low) // self.step + 1

    def describe(self) -> str:
        extra = ", log" if self.log else (f", step {self.step}" if self.step != 1 else "")
        return f"int [{self.low}, {self.high}]{extra}"

    def values_for_checks(self) -> tuple[Any, ...]:
        return (self.low, self.high)


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False
    step: float | None = None

    def suggest(self, trial: BaseTrial, name: str) -> float:
        return float(trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log))

    def distributions(self, name: str) -> dict[str, BaseDistribution]:
        return {name: FloatDistribution(self.low, self.high, log=self.log, step=self.step)}

    def combinations(self) -> int | None:
        if self.step is None:
            return None
        return int(round((self.high - self.low) / self.step)) + 1

    def describe(self) -> str:
        extra = ", log" if self.log else (f", step {self.step:g}" if self.step else "")
        return f"float [{self.low:g}, {self.high:g}]{extra}"

    def values_for_checks(self) -> tuple[Any, ...]:
        return (self.low, self.high)


@dataclass(frozen=True)
class Categorical:
    """``choices`` are the values a candidate receives, ``labels`` what Optuna stores."""

    choices: tuple[Any, ...]
    labels: tuple[StoredChoice, ...]

    def suggest(self, trial: BaseTrial, name: str) -> Any:
        label = trial.suggest_categorical(name, list(self.labels))
        return copy.deepcopy(self.choices[self.labels.index(label)])

    def distributions(self, name: str) -> dict[str, BaseDistribution]:
        return {name: CategoricalDistribution(list(self.labels))}

    def combinations(self) -> int | None:
        return len(self.choices)

    def describe(self) -> str:
        return "one of " + ", ".join(format_value(c) for c in self.choices)

    def values_for_checks(self) -> tuple[Any, ...]:
        return self.choices


@dataclass(frozen=True)
class LayerStack:
    """``depth`` layers; layer i has ``max(1, round(width * shrink**i))`` units."""

    width: Param
    depth: Param
    shrink: Param

    def _parts(self, name: str) -> tuple[tuple[str, Param], ...]:
        return ((f"{name}/width", self.width), (f"{name}/depth", self.depth),
                (f"{name}/shrink", self.shrink))

    def suggest(self, trial: BaseTrial, name: str) -> list[int]:
        width, depth, shrink = (part.suggest(trial, n) for n, part in self._parts(name))
        return stack_units(width, depth, shrink)

    def distributions(self, name: str) -> dict[str, BaseDistribution]:
        out: dict[str, BaseDistribution] = {}
        for part_name, part in self._parts(name):
            out.update(part.distributions(part_name))
        return out

    def combinations(self) -> int | None:
        total = 1
        for part in (self.width, self.depth, self.shrink):
            count = part.combinations()
            if count is None:
                return None
            total *= count
        return total

    def describe(self) -> str:
        text = f"width {self.width.describe()} x depth {self.depth.describe()}"
        if self.shrink != Constant(1.0):
            text += f", shrink {self.shrink.describe()}"
        return text

    def values_for_checks(self) -> tuple[Any, ...]:
        widths = self.width.values_for_checks()
        depths = self.depth.values_for_checks()
        shrinks = self.shrink.values_for_checks()
        return tuple(stack_units(w, d, s) for w in widths for d in depths for s in shrinks)


def stack_units(width: int, depth: int, shrink: float) -> list[int]:
    return [max(1, round(width * shrink**i)) for i in range(depth)]
