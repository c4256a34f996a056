"""How big a search space is: per branch, its searched parameters and the number of distinct
discrete combinations (float ranges without a step are continuous and counted apart)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from search_spaces.params import Constant

if TYPE_CHECKING:
    from search_spaces.document import Slot
    from search_spaces.space import SearchSpace


@dataclass(frozen=True)
class ParamSummary:
    name: str
    domain: str
    searched: bool
    #: distinct values; ``None`` for a continuous range
    combinations: int | None


@dataclass(frozen=True)
class BranchSummary:
    section: str
    name: str
    params: tuple[ParamSummary, ...]

    @property
    def searched(self) -> int:
        return sum(p.searched for p in self.params)

    @property
    def continuous(self) -> int:
        return sum(p.combinations is None for p in self.params)

    @property
    def discrete_combinations(self) -> int:
        return math.prod(p.combinations for p in self.params if p.combinations is not None)


@dataclass(frozen=True)
class SpaceSummary:
    name: str | None
    description: str
    topologies: tuple[BranchSummary, ...]
    weightings: tuple[BranchSummary, ...]
    optimizer: BranchSummary

    @property
    def discrete_combinations(self) -> int:
        """Distinct discrete configurations: (sum over topologies) x (sum over weightings) x
        optimizer combinations."""
        return (sum(b.discrete_combinations for b in self.topologies)
                * sum(b.discrete_combinations for b in self.weightings)
                * self.optimizer.discrete_combinations)

    @property
    def max_continuous(self) -> int:
        """Continuous dimensions of the largest branch combination."""
        return (max(b.continuous for b in self.topologies)
                + max(b.continuous for b in self.weightings) + self.optimizer.continuous)

    def to_dict(self) -> dict[str, Any]:
        def branch(b: BranchSummary) -> dict[str, Any]:
            return {**asdict(b), "searched": b.searched, "continuous": b.continuous,
                    "discrete_combinations": b.discrete_combinations}

        return {"name": self.name, "description": self.description,
                "topologies": [branch(b) for b in self.topologies],
                "weightings": [branch(b) for b in self.weightings],
                "optimizer": branch(self.optimizer),
                "discrete_combinations": self.discrete_combinations,
                "max_continuous": self.max_continuous}


def _params(slots: tuple[Slot, ...]) -> tuple[ParamSummary, ...]:
    return tuple(ParamSummary(s.name, s.param.describe(), not isinstance(s.param, Constant),
                              s.param.combinations()) for s in slots)


def summarize(space: SearchSpace) -> SpaceSummary:
    return SpaceSummary(
        name=space.name,
        description=space.description,
        topologies=tuple(BranchSummary("topology", b.name, _params(b.slots))
                         for b in space.branches("topology")),
        weightings=tuple(BranchSummary("weighting", b.name, _params(b.slots))
                         for b in space.branches("weighting")),
        optimizer=BranchSummary("optimizer", "optimizer", _params(space.optimizer_slots)),
    )


def format_summary(summary: SpaceSummary, show_fixed: bool = False) -> str:
    """The text ``automtl space show`` prints."""
    title = summary.name or "search space"
    lines = [f"{title}: {summary.description}".rstrip(": ") if summary.description else title,
             f"{len(summary.topologies)} topologies: "
             f"{', '.join(b.name for b in summary.topologies)}",
             f"{len(summary.weightings)} weightings: "
             f"{', '.join(b.name for b in summary.weightings)}", ""]
    header = f"{'section':<10} {'branch':<14} {'searched':>8} {'discrete combos':>16}  " \
             f"{'continuous':>10}"
    lines += [header, "-" * len(header)]
    for b in (*summary.topologies, *summary.weightings, summary.optimizer):
        lines.append(f"{b.section:<10} {b.name:<14} {b.searched:>8} "
                     f"{b.discrete_combinations:>16,}  {b.continuous:>10}")
    lines += ["", f"total: {summary.discrete_combinations:,} discrete combinations "
                  f"(topology x weighting x optimizer), times up to {summary.max_continuous} "
                  "continuous dimensions (float ranges without a step are continuous)", ""]
    for b in (*summary.topologies, *summary.weightings, summary.optimizer):
        shown = [p for p in b.params if p.searched or show_fixed]
        lines.append(f"[{b.section} {b.name}]" if b.section != "optimizer" else "[optimizer]")
        if not shown:
            lines.append("  (nothing searched)")
        width = max((len(p.name) for p in shown), default=0)
        lines += [f"  {p.name:<{width}}  {p.domain}" for p in shown]
    return "\n".join(lines)
