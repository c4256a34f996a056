"""Every parameter the DSL knows: its key, its value kind, its bounds, its default and the
candidate field it fills.

Bounds and defaults are read from the pydantic fields of the configs, so the DSL can never
accept a value the configs reject, and a default documented here is the config's default. The
tables are per section: a topology branch's parameters are read from the topology's registered
``Params`` model (:func:`topology_tables`), a weighting branch's from the strategy's ``Params``,
plus the shared ``architecture`` section and ``optimizer``.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from dataclasses import dataclass, field
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel

from automtl.config import (
    TOPOLOGY_PARAMS,
    ArchitectureConfig,
    TopologyParams,
    TrainConfig,
    VocabularySetting,
)

Kind = Literal["int", "float", "str", "bool", "units"]
_SCALAR_KINDS: dict[Any, Kind] = {bool: "bool", int: "int", float: "float"}
_OPS = {"ge": (operator.ge, ">="), "gt": (operator.gt, ">"), "le": (operator.le, "<="),
        "lt": (operator.lt, "<")}


@dataclass(frozen=True)
class ParamSpec:
    """One DSL key: ``target`` is its path in the candidate dict, e.g. ``("train", "lr")``.

    ``default`` of ``None`` with ``required_default=False`` means the key is left out of the
    candidate when the document leaves it out (the strategy's own default applies).
    """

    key: str
    target: tuple[str, ...]
    kind: Kind
    default: Any
    doc: str
    bounds: dict[str, float] = field(default_factory=dict)
    choices: tuple[str, ...] = ()
    min_layers: int = 0

    def bound_problem(self, value: float) -> str | None:
        """``"must be >= 1"`` when ``value`` breaks a bound, else ``None``."""
        for name, bound in self.bounds.items():
            test, symbol = _OPS[name]
            if not test(value, bound):
                return f"must be {symbol} {bound:g}"
        return None

    def bounds_text(self) -> str:
        return ", ".join(f"{_OPS[n][1]} {b:g}" for n, b in self.bounds.items())


def _from_config(key: str, model: type[BaseModel], name: str, target: tuple[str, ...],
                 kind: Kind, doc: str, **overrides: Any) -> ParamSpec:
    info = model.model_fields[name]
    bounds: dict[str, float] = {}
    for meta in info.metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if isinstance(meta, getattr(annotated_types, attr.capitalize())):
                bounds[attr] = float(getattr(meta, attr))
    choices = tuple(str(c) for c in get_args(info.annotation)) if kind == "str" else ()
    spec = ParamSpec(key=key, target=target, kind=kind,
                     default=info.get_default(call_default_factory=True), doc=doc,
                     bounds=bounds, choices=choices)
    if overrides:
        spec = dataclasses.replace(spec, **overrides)
    return spec


def _arch(key: str, name: str, kind: Kind, doc: str, **overrides: Any) -> ParamSpec:
    if kind == "units":
        overrides.setdefault("bounds", {"ge": 1.0})  # each layer width; checked by a validator
    return _from_config(key, ArchitectureConfig, name, ("architecture", name), kind, doc,
                        **overrides)


def _train(key: str, name: str, kind: Kind, doc: str) -> ParamSpec:
    return _from_config(key, TrainConfig, name, ("train", name), kind, doc)


def _specs(*specs: ParamSpec) -> dict[str, ParamSpec]:
    return {s.key: s for s in specs}


# -- architecture ---------------------------------------------------------------------------

EMBEDDING_DIM = _arch("embedding_dim", "embedding_dim", "int", "embedding size per categorical "
                      "feature")
ACTIVATION = _arch("activation", "activation", "str", "hidden-layer activation")
DROPOUT = _arch("dropout", "dropout", "float", "dropout after each hidden layer")
TOWER_UNITS = _arch("tower_units", "tower_units", "units", "hidden layers of each task tower "
                    "(none: a linear tower)")
L0_LAMBDA = _train("l0_lambda", "l0_lambda", "float", "weight of the expected-L0 penalty")

NORMALIZATION = _arch("normalization", "normalization", "str", "BatchNorm / LayerNorm after "
                      "each hidden linear layer (none, batch, layer)")

_COMMON = (EMBEDDING_DIM, ACTIVATION, DROPOUT, NORMALIZATION, TOWER_UNITS)
#: list-of-widths fields that need at least one layer
_REQUIRED_LAYERS = frozenset({"expert_units", "bottom_units", "star_units"})


def _field_kind(annotation: Any) -> Kind:
    if get_origin(annotation) in (Union, UnionType):  # ``float | None``: None keeps the default
        options = [a for a in get_args(annotation) if a is not type(None)]
        if len(options) == 1:
            annotation = options[0]
    if annotation in (bool, int, float):
        return _SCALAR_KINDS[annotation]
    if get_origin(annotation) is list:
        return "units"
    if get_origin(annotation) is Literal:
        return "str"
    raise TypeError(f"a topology parameter must be int, float, bool, a Literal of strings, "
                    f"list[int] or one of these or None; got {annotation!r}")


@functools.lru_cache(maxsize=256)
def _topology_specs(params: type[TopologyParams]) -> tuple[ParamSpec, ...]:
    """The DSL keys of a topology's ``Params`` model, read from its fields: once per model
    class (reading the fields' defaults and bounds is ~1.5 ms of every search-space
    validation otherwise; a class's fields do not change once it is defined)."""
    key_of = {field: key for key, field in params.dsl_keys.items()}
    out = []
    for name, info in params.model_fields.items():
        kind = _field_kind(info.annotation)
        overrides: dict[str, Any] = {}
        if kind == "units":
            overrides["bounds"] = {"ge": 1.0}
            overrides["min_layers"] = 1 if name in _REQUIRED_LAYERS else 0
        out.append(_from_config(key_of.get(name, name), params, name, ("architecture", name),
                                kind, info.description or name, **overrides))
    return tuple(out)


def topology_tables() -> dict[str, dict[str, ParamSpec]]:
    """topology -> the parameters its branch accepts (the shared ``architecture`` ones
    included), for every registered topology: read from its ``Params`` model, plus
    ``l0_lambda`` for topologies with an L0 penalty (``Params.l0_penalty``). A topology
    registered later is included the next time this is called. Reads
    :data:`automtl.config.TOPOLOGY_PARAMS`, so torch is not imported."""
    tables = {}
    for name in TOPOLOGY_PARAMS.names():
        params = TOPOLOGY_PARAMS.get(name)
        specs = list(_topology_specs(params))
        if params.l0_penalty:
            specs.append(L0_LAMBDA)
        tables[name] = _specs(*specs, *_COMMON)
    return tables


def shared_architecture_params() -> dict[str, ParamSpec]:
    """Parameters the top-level ``architecture`` section may set for every branch that uses
    them: the common ones and each topology's ``shared_dsl_fields`` (gates, expert and bottom
    widths)."""
    from automtl.models.params import shared_dsl_fields

    out = _specs(*_COMMON)
    for name in TOPOLOGY_PARAMS.names():
        params = TOPOLOGY_PARAMS.get(name)
        shared = shared_dsl_fields(params)
        for spec in _topology_specs(params):
            if spec.target[-1] in shared:
                out.setdefault(spec.key, spec)
    return out


# -- optimiser ------------------------------------------------------------------------------

OPTIMIZER_PARAMS: dict[str, ParamSpec] = _specs(
    _train("name", "optimizer", "str", "optimiser"),
    _train("lr", "lr", "float", "learning rate"),
    _train("weight_decay", "weight_decay", "float", "weight decay (L2)"),
    _train("batch_size", "batch_size", "int", "rows per step"),
    _train("epochs", "epochs", "int", "passes over the training split"),
    _train("early_stopping_patience", "early_stopping_patience", "int",
           "epochs without improvement before stopping (0: never)"),
    _train("grad_clip", "grad_clip", "float", "gradient-norm clipping (default: none)"),
    _train("compile", "compile", "bool", "torch.compile the model for the trial (default: off)"),
)

# -- vocabulary -----------------------------------------------------------------------------

#: the ``vocabulary`` section: a cap on every categorical feature's vocabulary, per trial (only
#: the keys a document sets are searched; the others keep the job's ``dataset.vocabulary``)
VOCABULARY_PARAMS: dict[str, ParamSpec] = _specs(
    _from_config("max_size", VocabularySetting, "max_size", ("vocabulary", "max_size"), "int",
                 "most values per categorical feature (the most frequent train values; the "
                 "others share the out-of-vocabulary index)"),
    _from_config("min_frequency", VocabularySetting, "min_frequency",
                 ("vocabulary", "min_frequency"), "int",
                 "train rows a category value needs to get its own index"),
)

# -- loss weighting -------------------------------------------------------------------------

#: the ``fixed`` branch: its keys are task names, its values the tasks' weights
FIXED_WEIGHT = ParamSpec(key="<task>", target=("weighting", "params", "weights"), kind="float",
                         default=None, doc="weight of a task's loss (name every task)",
                         bounds={"ge": 0.0})
DEFAULT_WEIGHTING = "equal"
#: bounds a strategy checks in code rather than in its Params fields
_EXTRA_WEIGHTING_BOUNDS: dict[tuple[str, str], dict[str, float]] = {
    ("ple_decay", "gamma"): {"gt": 0.0},
}


def _scalar_kind(annotation: Any) -> Kind | None:
    """The DSL kind of a Params field, or ``None`` when it is not a scalar (a per-task dict)."""
    if annotation in (bool, int, float):
        return _SCALAR_KINDS[annotation]
    args = get_args(annotation)
    if get_origin(annotation) is Literal and all(isinstance(a, str) for a in args):
        return "str"
    if float in args and all(a is float or get_origin(a) is dict for a in args):
        return "float"  # ``float | dict[str, float]``: the one-value-for-every-task form
    return None


def weighting_params(name: str) -> dict[str, ParamSpec]:
    """The scalar parameters of strategy ``name``, read from its pydantic ``Params`` model, so a
    new strategy (or a new parameter) is searchable the day it is registered. Per-task dicts are
    left out (``fixed`` takes task names as its keys instead)."""
    from automtl.weighting.params import WEIGHTING_PARAMS

    if name == "fixed":
        return {}
    return dict(_weighting_specs(name, WEIGHTING_PARAMS.get(name)))


@functools.lru_cache(maxsize=256)
def _weighting_specs(name: str, params_model: type[BaseModel]) -> dict[str, ParamSpec]:
    """:func:`weighting_params` of strategy ``name`` read from ``params_model``, once per
    model class (callers get a copy of the dict)."""
    out: dict[str, ParamSpec] = {}
    for key, info in params_model.model_fields.items():
        kind = _scalar_kind(info.annotation)
        if kind is None:
            continue
        spec = _from_config(key, params_model, key, ("weighting", "params", key), kind,
                            info.description or key)
        extra = _EXTRA_WEIGHTING_BOUNDS.get((name, key))
        if extra:
            spec = dataclasses.replace(spec, bounds={**spec.bounds, **extra})
        out[key] = spec
    return out


def weighting_tables(names: list[str]) -> dict[str, dict[str, ParamSpec]]:
    """``{strategy: its parameters}`` for the given registered strategies."""
    return {name: weighting_params(name) for name in names}
