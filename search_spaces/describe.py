"""How big a search space is: per branch, its searched parameters and the number of distinct
discrete combinations (float ranges without a step are continuous and counted apart)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from search_spaces.params import Constant, format_value

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
    #: topology -> the optional job-spec fields it needs (``{"aitm": ["sequence"]}``)
    needs_job_fields: dict[str, list[str]] = field(default_factory=dict)
    #: a built-in preset (leaves those topologies out of a job without the field) or a
    #: document (refused for such a job)
    preset: bool = False

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
                "max_continuous": self.max_continuous,
                "needs_job_fields": dict(self.needs_job_fields), "preset": self.preset}

    def needs_note(self) -> str | None:
        """The line ``automtl space show`` prints about topologies that need a job field."""
        if not self.needs_job_fields:
            return None
        named = ", ".join(f"{t} needs {' and '.join(repr(f) for f in fields)}"
                          for t, fields in self.needs_job_fields.items())
        then = ("this preset leaves each out of a job without its field" if self.preset
                else "a job without the field is refused (leave the topology out)")
        return f"only with a job field: {named}; {then}"


def _params(slots: tuple[Slot, ...]) -> tuple[ParamSummary, ...]:
    return tuple(ParamSummary(s.name, s.param.describe(), not isinstance(s.param, Constant),
                              s.param.combinations()) for s in slots)


def summarize(space: SearchSpace) -> SpaceSummary:
    from search_spaces.space import missing_job_fields

    return SpaceSummary(
        name=space.name,
        description=space.description,
        topologies=tuple(BranchSummary("topology", b.name, _params(b.slots))
                         for b in space.branches("topology")),
        weightings=tuple(BranchSummary("weighting", b.name, _params(b.slots))
                         for b in space.branches("weighting")),
        # the searched vocabulary cap, like the optimiser, applies to every branch
        optimizer=BranchSummary("optimizer", "optimizer",
                                _params(space.optimizer_slots + space.vocabulary_slots)),
        needs_job_fields=missing_job_fields(space.topologies, ()),
        preset=space.preset,
    )


def _count(branches: tuple[BranchSummary, ...], one: str, many: str) -> str:
    names = ", ".join(b.name for b in branches)
    return f"{len(branches)} {one if len(branches) == 1 else many}: {names}"


def format_summary(summary: SpaceSummary, show_fixed: bool = False) -> str:
    """The text ``automtl space show`` prints."""
    title = summary.name or "search space"
    lines = [f"{title}: {summary.description}".rstrip(": ") if summary.description else title,
             _count(summary.topologies, "topology", "topologies"),
             _count(summary.weightings, "weighting", "weightings")]
    note = summary.needs_note()
    lines += [note, ""] if note else [""]
    header = f"{'section':<10} {'branch':<14} {'searched':>8} {'discrete combos':>16}  " \
             f"{'continuous':>10}"
    lines += [header, "-" * len(header)]
    for b in (*summary.topologies, *summary.weightings, summary.optimizer):
        lines.append(f"{b.section:<10} {b.name:<14} {b.searched:>8} "
                     f"{b.discrete_combinations:>16,}  {b.continuous:>10}")
    combinations = "combination" if summary.discrete_combinations == 1 else "combinations"
    lines += ["", f"total: {summary.discrete_combinations:,} discrete {combinations} "
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


def reference_markdown() -> str:
    """The parameter reference tables of ``search_spaces/README.md`` (a test keeps them equal),
    generated from the same tables the validator uses."""
    from search_spaces.catalog import (
        OPTIMIZER_PARAMS,
        VOCABULARY_PARAMS,
        ParamSpec,
        shared_architecture_params,
        topology_tables,
        weighting_params,
    )
    from search_spaces.document import registered_weightings

    def domain(spec: ParamSpec) -> str:
        if spec.kind == "str":
            return ", ".join(spec.choices)
        if spec.kind == "bool":
            return "true, false"
        if spec.kind == "units":
            return "widths >= 1, at least one layer" if spec.min_layers else \
                "widths >= 1, `[]` allowed"
        return spec.bounds_text() or "any"

    def default(spec: ParamSpec) -> str:
        if spec.default is None:
            return "none"
        if isinstance(spec.default, bool):
            return str(spec.default).lower()
        return format_value(spec.default) if not isinstance(spec.default, str) \
            else spec.default

    header = ["| key | kind | default | allowed | meaning | candidate field |",
              "|---|---|---|---|---|---|"]

    def rows(specs: dict[str, ParamSpec]) -> list[str]:
        return [f"| `{s.key}` | {s.kind} | `{default(s)}` | {domain(s)} | {s.doc} | "
                f"`{'.'.join(s.target)}` |" for s in specs.values()]

    def rows_labelled(specs: dict[str, ParamSpec]) -> list[str]:
        return [f"| `{label}` | {s.kind} | `{default(s)}` | {domain(s)} | {s.doc} | "
                f"`{'.'.join(s.target)}` |" for label, s in specs.items()]

    tables = topology_tables()
    shared = shared_architecture_params()
    # one row per key; a key two topologies define differently gets a row per definition
    seen: dict[str, ParamSpec] = {}
    for topology, table in tables.items():
        for key, spec in table.items():
            if seen.setdefault(key, spec) != spec:
                seen.setdefault(f"{key} ({topology})", spec)
    lines = ["**Topology parameters** (which branch takes which key is listed below the table; "
             "keys marked * may also go in the shared `architecture` section)", ""]
    lines += header + [row.replace(f"| `{k}` |", f"| `{k}`* |", 1)
                       if k in shared else row
                       for k, row in zip(seen, rows_labelled(seen), strict=True)]
    lines += ["", "| topology | keys |", "|---|---|"]
    lines += [f"| `{t}` | {', '.join(f'`{k}`' for k in table)} |"
              for t, table in tables.items()]
    lines += ["", "**Weighting parameters** (read from each strategy's `Params` model; `fixed` "
              "takes task names as keys, each a weight >= 0, every task named)", ""]
    lines += ["| weighting | key | kind | default | allowed | meaning |",
              "|---|---|---|---|---|---|"]
    for name in registered_weightings():
        for spec in weighting_params(name).values():
            lines.append(f"| `{name}` | `{spec.key}` | {spec.kind} | `{default(spec)}` | "
                         f"{domain(spec)} | {spec.doc} |")
    lines += ["", "**Optimizer parameters**", ""] + header + rows(OPTIMIZER_PARAMS)
    lines += ["", "**Vocabulary parameters** (the `vocabulary` section: searched only when "
                  "set; `none` keeps the job's `dataset.vocabulary`)", ""]
    lines += header + rows(VOCABULARY_PARAMS)
    return "\n".join(lines)
