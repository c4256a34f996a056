"""Every parameter the DSL knows: its key, its value kind, its bounds, its default and the
candidate field it fills.

Bounds and defaults are read from the pydantic fields of :mod:`automtl.config`, so the DSL can
never accept a value the configs reject, and a default documented here is the config's default.
The tables are per section: topology branches, the shared ``architecture`` section and
``optimizer``; a weighting branch's parameters are read from the strategy's own ``Params`` model.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

import annotated_types
from pydantic import BaseModel

from automtl.config import ArchitectureConfig, SNRConfig, TrainConfig

Kind = Literal["int", "float", "str", "bool", "units"]
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


def _snr(key: str, doc: str) -> ParamSpec:
    kind: Kind = "int" if key in ("layers", "subnetworks") else "float"
    return _from_config(key, SNRConfig, key, ("architecture", "snr", key), kind, doc)


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
GATE_KIND = _arch("gate_kind", "gate_kind", "str", "gate network: linear or a small MLP")
GATE_UNITS = _arch("gate_units", "gate_units", "units", "hidden layers of an mlp gate")
GATE_TEMPERATURE = _arch("gate_temperature", "gate_temperature", "float",
                         "softmax temperature of the gates")
EXPERT_UNITS = _arch("expert_units", "expert_units", "units", "hidden layers of each expert "
                     "(SNR: of each sub-network)", min_layers=1)
BOTTOM_UNITS = _arch("bottom_units", "bottom_units", "units", "hidden layers of the bottom "
                     "(shared, or one column per task)", min_layers=1)
EXPERTS = _arch("experts", "num_shared_experts", "int", "number of experts",
                bounds={"ge": 1.0, "le": 64.0})
SHARED_EXPERTS = _arch("shared_experts", "num_shared_experts", "int", "shared experts per level")
TASK_EXPERTS = _arch("task_experts", "num_task_experts", "int", "experts per task per level")
LEVELS = _arch("levels", "levels", "int", "extraction levels (stacked CGC layers)")
L0_LAMBDA = _train("l0_lambda", "l0_lambda", "float", "weight of the expected-L0 penalty")

NORMALIZATION = _arch("normalization", "normalization", "str", "BatchNorm / LayerNorm after "
                      "each hidden linear layer (none, batch, layer)")
SHARE_EMBEDDINGS = ParamSpec(
    key="share_embeddings", target=("architecture", "cross_stitch", "share_embeddings"),
    kind="bool", default=False, doc="one input layer for every cross-stitch column (the paper: "
    "separate)")

_COMMON = (EMBEDDING_DIM, ACTIVATION, DROPOUT, NORMALIZATION, TOWER_UNITS)
_GATES = (GATE_KIND, GATE_UNITS, GATE_TEMPERATURE)
_SNR = (EXPERT_UNITS, _snr("layers", "layers of sub-networks"),
        _snr("subnetworks", "sub-networks per layer"),
        _snr("beta", "hard-concrete temperature beta"),
        _snr("gamma", "hard-concrete stretch lower end gamma"),
        _snr("zeta", "hard-concrete stretch upper end zeta"),
        _snr("init_drop_rate", "initial probability that a gate is closed"),
        _snr("l0_warmup_epochs", "epochs over which the L0 weight ramps up from 0"),
        _snr("gate_lr", "learning rate of the gates' log_alpha"), L0_LAMBDA)

#: topology -> the parameters its branch accepts (the shared ``architecture`` ones included)
TOPOLOGY_PARAMS: dict[str, dict[str, ParamSpec]] = {
    "single_task": _specs(BOTTOM_UNITS, *_COMMON),
    "shared_bottom": _specs(BOTTOM_UNITS, *_COMMON),
    "cross_stitch": _specs(BOTTOM_UNITS, SHARE_EMBEDDINGS, *_COMMON),
    "omoe": _specs(EXPERTS, EXPERT_UNITS, *_GATES, *_COMMON),
    "mmoe": _specs(EXPERTS, EXPERT_UNITS, *_GATES, *_COMMON),
    "cgc": _specs(SHARED_EXPERTS, TASK_EXPERTS, EXPERT_UNITS, *_GATES, *_COMMON),
    "ple": _specs(LEVELS, SHARED_EXPERTS, TASK_EXPERTS, EXPERT_UNITS, *_GATES, *_COMMON),
    "snr_trans": _specs(*_SNR, *_COMMON),
    "snr_avg": _specs(*_SNR, *_COMMON),
}

#: parameters the top-level ``architecture`` section may set for every branch that uses them
SHARED_ARCHITECTURE_PARAMS: dict[str, ParamSpec] = _specs(
    *_COMMON, *_GATES, EXPERT_UNITS, BOTTOM_UNITS)

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
        return {bool: "bool", int: "int", float: "float"}[annotation]
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
    from automtl.weighting.registry import get_weighting

    if name == "fixed":
        return {}
    params_model = get_weighting(name).Params
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
