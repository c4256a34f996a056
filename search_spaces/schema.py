"""The JSON Schema of a search-space document, generated from the same parameter tables the
validator uses (so the two cannot drift). It has no ``$ref``: it can be embedded anywhere, e.g.
in the API's OpenAPI page. Cross-field rules (low <= high, log needs low > 0, a step that
divides the range, joint sizes) are checked only by :func:`search_spaces.load`."""

from __future__ import annotations

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
from search_spaces.document import TASK_NAME_PATTERN, registered_weightings

_JSON_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum",
                "lt": "exclusiveMaximum"}


def _scalar(spec: ParamSpec) -> dict[str, Any]:
    if spec.kind == "str":
        return {"type": "string", "enum": list(spec.choices)}
    if spec.kind == "bool":
        return {"type": "boolean"}
    out: dict[str, Any] = {"type": "integer" if spec.kind == "int" else "number"}
    for name, bound in spec.bounds.items():
        out[_JSON_BOUNDS[name]] = int(bound) if spec.kind == "int" else bound
    return out


def _units(spec: ParamSpec) -> dict[str, Any]:
    width = {"type": "integer", "minimum": 1}
    return {"anyOf": [width, {"type": "array", "items": width, "minItems": spec.min_layers}]}


def _range(keyword: str, item: dict[str, Any]) -> dict[str, Any]:
    step = {"type": "integer", "minimum": 1} if keyword == "int" else \
        {"type": "number", "exclusiveMinimum": 0}
    return {"type": "object", "additionalProperties": False, "required": [keyword],
            "properties": {keyword: {"type": "array", "items": item, "minItems": 2,
                                     "maxItems": 2},
                           "log": {"type": "boolean"}, "step": step}}


def _categorical(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": ["categorical"],
            "properties": {"categorical": {"type": "array", "items": item, "minItems": 1}}}


def param_schema(spec: ParamSpec) -> dict[str, Any]:
    """The schema of one parameter's value: a constant, a range or a categorical list."""
    if spec.kind == "units":
        item = _units(spec)
        int_part = {"anyOf": [{"type": "integer", "minimum": 1},
                              _range("int", {"type": "integer", "minimum": 1}),
                              _categorical({"type": "integer", "minimum": 1})]}
        depth = {"type": "integer", "minimum": spec.min_layers}
        stack = {"type": "object", "additionalProperties": False, "required": ["width", "depth"],
                 "properties": {"width": int_part,
                                "depth": {"anyOf": [depth, _range("int", depth),
                                                    _categorical(depth)]},
                                "shrink": {"anyOf": [{"type": "number", "exclusiveMinimum": 0,
                                                      "maximum": 1},
                                                     _range("float", {"type": "number"})]}}}
        forms = [*item["anyOf"], _categorical(item), stack]
    else:
        item = _scalar(spec)
        forms = [item, _categorical(item)]
        if spec.kind in ("int", "float"):
            forms.insert(1, _range(spec.kind, item))
    return {"description": spec.doc, "default": spec.default, "anyOf": forms}


def _params_object(specs: dict[str, ParamSpec]) -> dict[str, Any]:
    return {"type": ["object", "null"], "additionalProperties": False,
            "properties": {k: param_schema(s) for k, s in specs.items()}}


def _choice(section: str, branches: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": ["choose"],
            "description": f"the allowed {section}s, each with its own parameters",
            "properties": {"choose": {"type": "object", "minProperties": 1,
                                      "additionalProperties": False, "properties": branches}}}


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a search-space document or a ``{preset: NAME}`` reference."""
    from search_spaces.loader import presets

    topologies = {t: _params_object(table) for t, table in topology_tables().items()}
    weightings = {w: _params_object(table)
                  for w, table in weighting_tables(registered_weightings()).items()}
    if "fixed" in weightings:
        weightings["fixed"] = {"type": ["object", "null"], "description": FIXED_WEIGHT.doc,
                               "propertyNames": {"pattern": TASK_NAME_PATTERN},
                               "additionalProperties": param_schema(FIXED_WEIGHT)}
    document = {
        "type": "object", "additionalProperties": False, "required": ["topology"],
        "properties": {
            "description": {"type": "string"},
            "topology": _choice("topology", topologies),
            "architecture": {**_params_object(shared_architecture_params()),
                             "description": "parameters shared by every topology that uses "
                                            "them (a branch's own setting wins)"},
            "weighting": {**_choice("weighting", weightings),
                          "default": {"choose": {DEFAULT_WEIGHTING: {}}}},
            "optimizer": _params_object(OPTIMIZER_PARAMS),
            "vocabulary": {**_params_object(VOCABULARY_PARAMS),
                           "description": "a cap on every categorical feature's vocabulary, "
                                          "searched per trial (default: the job's "
                                          "dataset.vocabulary)"},
        },
    }
    reference = {"type": "object", "additionalProperties": False, "required": ["preset"],
                 "properties": {"preset": {"type": "string", "enum": presets()}}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "automtl search space", "oneOf": [document, reference]}
