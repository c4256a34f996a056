"""Check a whole search-space document and resolve it into branches of parameter slots.

Each branch lists one :class:`Slot` per parameter its topology (or weighting) uses, in a fixed
order: set in the branch, else set in the shared ``architecture`` section, else the default.
The slot's ``name`` is the trial parameter name: ``<branch>/<key>`` (``ple/levels``,
``gradnorm/alpha``), ``architecture/<key>`` for the shared section and ``optimizer/<key>``.
One name always means one parameter of one distribution, as Optuna requires.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from search_spaces.catalog import (
    DEFAULT_WEIGHTING,
    FIXED_WEIGHT,
    OPTIMIZER_PARAMS,
    VOCABULARY_PARAMS,
    ParamSpec,
    shared_architecture_params,
    topology_tables,
    weighting_tables,
)
from search_spaces.errors import ErrorCollector, join_path
from search_spaces.params import Constant, Param
from search_spaces.values import KEYWORDS, parse_param

TOP_LEVEL_KEYS: tuple[str, ...] = ("description", "topology", "architecture", "weighting",
                                   "optimizer", "vocabulary")
TASK_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


@dataclass(frozen=True)
class Slot:
    """One parameter of a compiled branch; ``path`` is where the document sets it ("" if not)."""

    name: str
    param: Param
    spec: ParamSpec
    target: tuple[str, ...]
    path: str


@dataclass(frozen=True)
class Branch:
    name: str
    path: str
    slots: tuple[Slot, ...]


@dataclass(frozen=True)
class ParsedSpace:
    description: str
    topologies: dict[str, Branch]
    weightings: dict[str, Branch]
    optimizer: tuple[Slot, ...]
    #: the keys of the ``vocabulary`` section the document sets (no default slots: a space
    #: without the section samples no vocabulary parameter and keeps the job's cap)
    vocabulary: tuple[Slot, ...] = ()


def registered_topologies() -> list[str]:
    """Topologies whose settings are registered (:data:`automtl.config.TOPOLOGY_PARAMS`: the
    built-ins and any registered since; no torch import)."""
    from automtl.config import TOPOLOGY_PARAMS

    return TOPOLOGY_PARAMS.names()


def registered_weightings() -> list[str]:
    """Strategies whose parameter models are registered
    (:data:`automtl.weighting.params.WEIGHTING_PARAMS`: the built-ins and any registered since;
    no torch import)."""
    from automtl.weighting.params import WEIGHTING_PARAMS

    return WEIGHTING_PARAMS.names()


def parse_document(doc: Any, errors: ErrorCollector) -> ParsedSpace | None:
    """The resolved space, or ``None`` with every problem added to ``errors``."""
    if not isinstance(doc, Mapping):
        errors.add("", f"a search space is a mapping with the keys {list(TOP_LEVEL_KEYS)}, "
                       f"got {type(doc).__name__}")
        return None
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            errors.add(str(key), f"unknown key {key!r}{did_you_mean(str(key), TOP_LEVEL_KEYS)}; "
                                 f"valid: {list(TOP_LEVEL_KEYS)}")
    description = doc.get("description", "")
    if not isinstance(description, str):
        errors.add("description", f"expected a string, got {type(description).__name__}")
    tables = topology_tables()
    topology_owners = {key: [t for t, table in tables.items() if key in table]
                       for table in tables.values() for key in table}
    shared = _parse_section(doc.get("architecture"), shared_architecture_params(),
                            "architecture", errors, owners=topology_owners)
    if "topology" not in doc:
        errors.add("topology", "required: {choose: {TOPOLOGY: {PARAMETER: VALUE, ...}, ...}}")
        topologies: dict[str, Branch] = {}
    else:
        before = len(errors)
        topologies = _parse_choice(doc["topology"], "topology", tables,
                                   registered_topologies(), shared, errors)
        if len(errors) == before:
            _check_shared_used(shared, topologies, tables, errors)
    raw_weighting = doc.get("weighting", {"choose": {DEFAULT_WEIGHTING: {}}})
    known_weightings = registered_weightings()
    weightings = _parse_choice(raw_weighting, "weighting", weighting_tables(known_weightings),
                               known_weightings, {}, errors)
    optimizer = _parse_section(doc.get("optimizer"), OPTIMIZER_PARAMS, "optimizer", errors)
    vocabulary = _parse_section(doc.get("vocabulary"), VOCABULARY_PARAMS, "vocabulary", errors)
    if errors:
        return None
    slots = tuple(optimizer.get(k) or _default_slot("optimizer", spec)
                  for k, spec in OPTIMIZER_PARAMS.items())
    return ParsedSpace(str(description), topologies, weightings, slots,
                       tuple(vocabulary[k] for k in VOCABULARY_PARAMS if k in vocabulary))


def _default_slot(prefix: str, spec: ParamSpec) -> Slot:
    return Slot(f"{prefix}/{spec.key}", Constant(spec.default), spec, spec.target, "")


def _parse_section(raw: Any, specs: dict[str, ParamSpec], path: str, errors: ErrorCollector,
                   prefix: str | None = None,
                   owners: dict[str, list[str]] | None = None) -> dict[str, Slot]:
    """Slots for the keys a mapping sets explicitly (a branch body or a top-level section)."""
    prefix = prefix or path
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        errors.add(path, f"expected a mapping of parameters, got {type(raw).__name__}")
        return {}
    out: dict[str, Slot] = {}
    for key, value in raw.items():
        kpath = join_path(path, str(key))
        spec = specs.get(key)
        if spec is None:
            errors.add(kpath, _unknown_parameter(str(key), prefix, specs, owners or {}))
            continue
        param = parse_param(value, spec, kpath, errors)
        if param is not None:
            out[key] = Slot(f"{prefix}/{key}", param, spec, spec.target, kpath)
    return out


def closest(key: str, valid: Collection[str]) -> str | None:
    """The one of ``valid`` closest to a mistyped ``key`` (:func:`difflib.get_close_matches`,
    cutoff 0.6), else ``None``: the suggestion of every "did you mean" in specs and spaces."""
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(key: str, valid: Collection[str]) -> str:
    """``" (did you mean 'mmoe'?)"`` for :func:`closest`, else ``""``."""
    close = closest(key, valid)
    return f" (did you mean {close!r}?)" if close else ""


def _unknown_parameter(key: str, where: str, specs: dict[str, ParamSpec],
                       owners: dict[str, list[str]]) -> str:
    message = (f"unknown parameter {key!r} for {where}{did_you_mean(key, specs)}; "
               f"valid: {sorted(specs)}")
    if owners.get(key):
        message += f" ({key!r} belongs inside the branch of: {', '.join(owners[key])})"
    return message


def _parse_choice(raw: Any, section: str, tables: dict[str, dict[str, ParamSpec]],
                  registered: list[str], shared: dict[str, Slot],
                  errors: ErrorCollector) -> dict[str, Branch]:
    valid = [name for name in tables if name in registered]
    owners = {key: [b for b, table in tables.items() if key in table]
              for table in tables.values() for key in table}
    if not isinstance(raw, Mapping) or "choose" not in raw:
        errors.add(section, f"expected {{choose: {{{section.upper()}: {{...}}, ...}}}}; "
                            f"valid {section} names: {valid}")
        return {}
    for key in raw:
        if key != "choose":
            errors.add(join_path(section, str(key)), f"unknown key {key!r}; valid: ['choose']")
    choose, cpath = raw["choose"], f"{section}.choose"
    if not isinstance(choose, Mapping) or not choose:
        errors.add(cpath, f"choose at least one {section}; valid: {valid}")
        return {}
    branches: dict[str, Branch] = {}
    for name, body in choose.items():
        bpath = join_path(cpath, str(name))
        if name not in valid:
            errors.add(bpath, f"unknown {section} {name!r}{did_you_mean(str(name), valid)}; "
                              f"valid: {valid}")
            continue
        before = len(errors)
        if section == "weighting" and name == "fixed":
            explicit = _parse_fixed_weights(body, bpath, errors)
        else:
            explicit = _parse_section(body, tables[name], bpath, errors, prefix=name,
                                      owners=owners)
        slots = [explicit.get(k) or shared.get(k) or _default_slot(name, spec)
                 for k, spec in tables[name].items()]
        slots += [s for k, s in explicit.items() if k not in tables[name]]
        branch = Branch(str(name), bpath, tuple(slots))
        if len(errors) == before and section == "topology":
            _check_joint(branch, errors)
        branches[name] = branch
    return branches


def _parse_fixed_weights(body: Any, path: str, errors: ErrorCollector) -> dict[str, Slot]:
    """``fixed: {TASK: WEIGHT, ...}``; each weight a constant or a searched float."""
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        errors.add(path, f"expected a mapping of task names to weights, got "
                         f"{type(body).__name__}")
        return {}
    if not body:
        errors.add(path, "name every task with its weight, e.g. {ctr: 1.0, cvr: 0.5}")
    out: dict[str, Slot] = {}
    for task, value in body.items():
        tpath = join_path(path, str(task))
        if not isinstance(task, str) or not re.match(TASK_NAME_PATTERN, task):
            errors.add(tpath, f"task name {task!r} must be an identifier")
            continue
        if isinstance(value, Mapping) and not set(value) & set(KEYWORDS):
            # e.g. fixed: {weights: {ctr: 1}}: the keys of fixed are the task names themselves
            example = ", ".join(f"{k}: {v}" for k, v in list(value.items())[:3]) \
                if all(not isinstance(v, Mapping) for v in value.values()) else "ctr: 1.0"
            errors.add(tpath, f"the keys of fixed are task names, each with a number or a "
                              f"range ({{float: ...}}, {{categorical: ...}}); {task!r} holds "
                              f"keys {list(value)}: write fixed: {{{example}}}")
            continue
        param = parse_param(value, FIXED_WEIGHT, tpath, errors)
        if param is not None:
            out[task] = Slot(f"fixed/{task}", param, FIXED_WEIGHT,
                             (*FIXED_WEIGHT.target, task), tpath)
    return out


def _check_shared_used(shared: dict[str, Slot], topologies: dict[str, Branch],
                       tables: dict[str, dict[str, ParamSpec]], errors: ErrorCollector) -> None:
    for key, slot in shared.items():
        users = [b.name for b in topologies.values() if any(s is slot for s in b.slots)]
        if not users:
            takers = [t for t in topologies if key in tables[t]]
            why = ("each allowed topology that uses it sets its own" if takers
                   else "no allowed topology uses it")
            errors.add(slot.path, f"{key} reaches no topology: {why}")


def _check_joint(branch: Branch, errors: ErrorCollector) -> None:
    """Combinations of values that make no valid model (e.g. a PLE gate with no expert)."""
    slots = {s.spec.key: s for s in branch.slots}
    if "task_experts" in slots:
        shared, task = slots["shared_experts"], slots["task_experts"]
        if min(shared.param.values_for_checks()) + min(task.param.values_for_checks()) < 1:
            errors.add(task.path or join_path(branch.path, "task_experts"),
                       "shared_experts and task_experts can both be 0: every gate needs at "
                       "least one expert (raise the low end of either)")
    if "gate_kind" in slots:
        kinds, units = slots["gate_kind"], slots["gate_units"]
        if "mlp" in kinds.param.values_for_checks() and \
                [] in units.param.values_for_checks():
            errors.add(units.path or join_path(branch.path, "gate_units"),
                       "gate_kind can be 'mlp', which needs at least one gate layer, but "
                       "gate_units can be empty")
