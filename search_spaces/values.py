"""Parse one parameter's raw value (a constant or ``{int|float|categorical: ...}``) into a
:mod:`search_spaces.params` kind, checking it against its :class:`ParamSpec`.

Every problem is added to the collector with its path; ``None`` comes back when the value is
unusable. A range with ``low == high`` or a one-element list becomes a :class:`Constant`: it
fixes the value and asks the trial for nothing.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Mapping
from typing import Any

from search_spaces.catalog import ParamSpec
from search_spaces.errors import ErrorCollector, join_path
from search_spaces.params import (
    Categorical,
    Constant,
    FloatRange,
    IntRange,
    LayerStack,
    Param,
    StoredChoice,
    stack_units,
    units_label,
)

KEYWORDS: tuple[str, ...] = ("int", "float", "categorical")
_RANGE_KEYS = {"int": ("int", "log", "step"), "float": ("float", "log", "step"),
               "categorical": ("categorical",)}
_STACK_KEYS = ("width", "depth", "shrink")
#: which range keywords each kind of parameter takes
_KIND_KEYWORDS = {"int": ("int", "categorical"), "float": ("float", "categorical"),
                  "str": ("categorical",), "bool": ("categorical",), "units": ("categorical",)}
_A_KIND = {"int": "an int", "float": "a float", "str": "a string", "bool": "a bool",
           "units": "a layer-widths", "categorical": "a categorical"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value)


def _forms(spec: ParamSpec) -> str:
    forms = {"int": "an integer", "float": "a number", "str": f"one of {list(spec.choices)}",
             "bool": "true or false", "units": "a layer width or a list of widths"}[spec.kind]
    forms += ", " + ", ".join(f"{{{k}: ...}}" for k in _KIND_KEYWORDS[spec.kind])
    if spec.kind == "units":
        forms += ", {width: ..., depth: ...}"
    return forms


def parse_param(raw: Any, spec: ParamSpec, path: str, errors: ErrorCollector) -> Param | None:
    """The parameter ``raw`` describes, or ``None`` after adding its errors."""
    if not isinstance(raw, Mapping):
        value = parse_constant(raw, spec, path, errors)
        return None if value is None else Constant(value)
    keywords = [k for k in KEYWORDS if k in raw]
    if spec.kind == "units" and not keywords and any(k in raw for k in _STACK_KEYS):
        return _parse_stack(raw, spec, path, errors)
    if len(keywords) != 1:
        found = f"several of {keywords}" if keywords else f"keys {sorted(map(str, raw))}"
        errors.add(path, f"expected {_forms(spec)}; got {found}")
        return None
    keyword = keywords[0]
    if keyword not in _KIND_KEYWORDS[spec.kind]:
        errors.add(path, f"{{{keyword}: ...}} does not fit {_A_KIND[spec.kind]} parameter; "
                         f"expected {_forms(spec)}")
        return None
    before = len(errors)
    for key in raw:
        if key not in _RANGE_KEYS[keyword]:
            errors.add(join_path(path, str(key)),
                       f"unknown key {key!r} in {_A_KIND[keyword]} range; valid: "
                       f"{list(_RANGE_KEYS[keyword])}")
    if keyword == "categorical":
        param = _parse_categorical(raw["categorical"], spec, path, errors)
    else:
        param = _parse_range(raw, keyword, spec, path, errors)
    return param if len(errors) == before else None


def parse_constant(raw: Any, spec: ParamSpec, path: str, errors: ErrorCollector,
                   what: str = "value") -> Any:
    """A valid constant of the spec's kind (floats widened, units as a list), or ``None``."""
    if spec.kind == "str":
        if not isinstance(raw, str) or raw not in spec.choices:
            errors.add(path, f"unknown {what} {raw!r}; valid: {list(spec.choices)}")
            return None
        return raw
    if spec.kind == "units":
        return _parse_units(raw, spec, path, errors, what)
    if spec.kind == "bool":
        if not isinstance(raw, bool):
            errors.add(path, f"expected true or false, got {_describe(raw)}")
            return None
        return raw
    if spec.kind == "int" and not _is_int(raw):
        errors.add(path, f"expected an integer, got {_describe(raw)}")
        return None
    if spec.kind == "float" and not _is_number(raw):
        errors.add(path, f"expected a finite number, got {_describe(raw)}")
        return None
    problem = spec.bound_problem(raw)
    if problem:
        errors.add(path, f"{what} {raw} {problem}")
        return None
    return float(raw) if spec.kind == "float" else int(raw)


def _describe(raw: Any) -> str:
    if isinstance(raw, str):
        hint = " (write numbers unquoted; PyYAML reads 1e-3 as a string, 1.0e-3 as a number)" \
            if _looks_numeric(raw) else ""
        return f"the string {raw!r}{hint}"
    return f"{raw!r} ({type(raw).__name__})"


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_units(raw: Any, spec: ParamSpec, path: str, errors: ErrorCollector,
                 what: str) -> list[int] | None:
    units = [raw] if _is_int(raw) else raw
    if not isinstance(units, list) or not all(_is_int(u) for u in units):
        errors.add(path, f"expected a layer width or a list of integer widths, got "
                         f"{_describe(raw)}")
        return None
    if len(units) < spec.min_layers:
        errors.add(path, f"{what} {units}: at least {spec.min_layers} layer is required")
        return None
    bad = [u for u in units if u < 1]
    if bad:
        errors.add(path, f"{what} {units}: layer widths must be >= 1")
        return None
    return list(units)


def _parse_categorical(raw: Any, spec: ParamSpec, path: str,
                       errors: ErrorCollector) -> Param | None:
    cpath = join_path(path, "categorical")
    if not isinstance(raw, list) or not raw:
        errors.add(cpath, "expected a non-empty list of choices")
        return None
    choices: list[Any] = []
    for i, item in enumerate(raw):
        value = parse_constant(item, spec, join_path(cpath, i), errors, what="choice")
        if value is not None:
            choices.append(value)
    if len(choices) != len(raw):
        return None
    labels: list[StoredChoice] = [units_label(c) if spec.kind == "units" else c
                                  for c in choices]
    dupes = sorted({str(label) for label in labels if labels.count(label) > 1})
    if dupes:
        errors.add(cpath, f"duplicate choices: {dupes}")
        return None
    if len(choices) == 1:
        return Constant(choices[0])
    return Categorical(tuple(choices), tuple(labels))


def _parse_range(raw: Mapping[str, Any], keyword: str, spec: ParamSpec, path: str,
                 errors: ErrorCollector) -> Param | None:
    is_int = keyword == "int"
    ok_number = _is_int if is_int else _is_number
    ends = raw[keyword]
    if not isinstance(ends, list) or len(ends) != 2 or not all(ok_number(e) for e in ends):
        kind = "integers" if is_int else "finite numbers"
        errors.add(join_path(path, keyword), f"expected [low, high] with two {kind}, got "
                                             f"{ends!r}")
        return None
    low, high = (int(e) for e in ends) if is_int else (float(e) for e in ends)
    before = len(errors)
    if low > high:
        errors.add(path, f"low {low} must be <= high {high}")
    low_problem = spec.bound_problem(low)
    for name, value, problem in (("low", low, low_problem),
                                 ("high", high, spec.bound_problem(high))):
        if problem:
            errors.add(path, f"{name} {value:g} {problem}")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        errors.add(join_path(path, "log"), f"expected true or false, got {log!r}")
        log = False
    if log and not low_problem and (low <= 0 or (is_int and low < 1)):
        errors.add(path, f"log needs low {'>= 1' if is_int else '> 0'}, got {low:g}")
    step = raw.get("step")
    if step is not None:
        step = _check_step(step, low, high, log, is_int, join_path(path, "step"), errors)
    if len(errors) != before:
        return None
    if low == high:
        return Constant(low)
    if is_int:
        return IntRange(int(low), int(high), log=log, step=int(step or 1))
    return FloatRange(float(low), float(high), log=log,
                      step=None if step is None else float(step))


def _check_step(step: Any, low: float, high: float, log: bool, is_int: bool, path: str,
                errors: ErrorCollector) -> Any:
    if is_int and (not _is_int(step) or step < 1):
        errors.add(path, f"must be a positive integer, got {step!r}")
        return None
    if not is_int and (not _is_number(step) or step <= 0):
        errors.add(path, f"must be a positive number, got {step!r}")
        return None
    if log:
        errors.add(path, "cannot be combined with log: true")
        return None
    span = decimal.Decimal(str(high)) - decimal.Decimal(str(low))
    if span % decimal.Decimal(str(step)) != 0:
        errors.add(path, f"high - low = {span} is not a multiple of step {step}")
        return None
    return step


def _parse_stack(raw: Mapping[str, Any], spec: ParamSpec, path: str,
                 errors: ErrorCollector) -> Param | None:
    before = len(errors)
    for key in raw:
        if key not in _STACK_KEYS:
            errors.add(join_path(path, str(key)),
                       f"unknown key {key!r} in a layer stack; valid: {list(_STACK_KEYS)}")
    for key in ("width", "depth"):
        if key not in raw:
            errors.add(path, f"a layer stack needs {key!r} (keys: width, depth, shrink)")
    if len(errors) != before:
        return None
    parts = {
        "width": ParamSpec("width", (), "int", None, "layer width", bounds={"ge": 1.0}),
        "depth": ParamSpec("depth", (), "int", None, "layers",
                           bounds={"ge": float(spec.min_layers)}),
        "shrink": ParamSpec("shrink", (), "float", 1.0, "width factor per layer",
                            bounds={"gt": 0.0, "le": 1.0}),
    }
    parsed = {key: parse_param(raw.get(key, part.default), part, join_path(path, key), errors)
              for key, part in parts.items()}
    if len(errors) != before:
        return None
    width, depth, shrink = (parsed[k] for k in _STACK_KEYS)
    assert width is not None and depth is not None and shrink is not None
    if all(isinstance(p, Constant) for p in (width, depth, shrink)):
        return Constant(stack_units(width.value, depth.value, shrink.value))  # type: ignore
    return LayerStack(width=width, depth=depth, shrink=shrink)
