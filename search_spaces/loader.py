"""Load a search space from a preset name, a YAML/JSON file or a dict."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from search_spaces.document import ParsedSpace, did_you_mean, parse_document
from search_spaces.errors import ErrorCollector, SearchSpaceError
from search_spaces.space import SearchSpace

PRESET_DIR = Path(__file__).parent / "presets"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-3`` as a float (as YAML 1.2 does) not a string."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(text: str) -> Any:
    """Parse YAML text the way search-space files are read (``1e-3`` is a float)."""
    return yaml.load(text, Loader=_Loader)


def presets() -> list[str]:
    """Names of the built-in presets (``search_spaces/presets/*.yaml``)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def unknown_preset(name: Any) -> str:
    """``unknown preset 'defualt' (did you mean 'default'?); valid: [...]``."""
    hint = did_you_mean(name, presets()) if isinstance(name, str) else ""
    return f"unknown preset {name!r}{hint}; valid: {presets()}"


def load_preset(name: str) -> SearchSpace:
    """The built-in preset ``name``; an unknown name lists the valid ones."""
    if name not in presets():
        raise SearchSpaceError([("preset", unknown_preset(name))])
    path = PRESET_DIR / f"{name}.yaml"
    document, parsed = _parsed_preset(path, path.stat().st_mtime_ns, _registries())
    # a new SearchSpace per call, with its own copy of the document: a caller may change it
    return SearchSpace(parsed, document, name=name, preset=True)


def _registries() -> tuple[Any, ...]:
    """The registered topology and weighting settings models: what a document's validation
    reads besides the document (the parameter tables), so a cache key of validated spaces."""
    from automtl.config import TOPOLOGY_PARAMS
    from automtl.weighting.params import WEIGHTING_PARAMS

    return TOPOLOGY_PARAMS.snapshot(), WEIGHTING_PARAMS.snapshot()


@functools.lru_cache(maxsize=64)
def _parsed_preset(path: Path, mtime_ns: int, registries: tuple[Any, ...]
                   ) -> tuple[Any, ParsedSpace]:
    """The YAML document of a preset file and its validated form, kept per file version (its
    modification time) and per registered topologies and weightings. Validating a preset is
    ~4 ms of pure Python (~10 ms more to parse its YAML) that every job spec naming it would
    pay on each ``POST /jobs`` and each read of its front or report; both results are
    immutable (frozen dataclasses; each :class:`SearchSpace` copies the document)."""
    document = read_yaml(path.read_text())
    errors = ErrorCollector()
    parsed = parse_document(document, errors)
    errors.raise_if_any()
    assert parsed is not None
    return document, parsed


def load(source: str | Path | Mapping[str, Any] | SearchSpace) -> SearchSpace:
    """A validated :class:`SearchSpace` from a preset name, a ``.yaml``/``.yml``/``.json`` path,
    a document dict, or ``{"preset": NAME}``.

    Raises :class:`SearchSpaceError` listing every problem with its path.
    """
    if isinstance(source, SearchSpace):
        return source
    if isinstance(source, Mapping):
        if "preset" in source:
            return _preset_reference(source)
        return _from_document(source, None)
    if not isinstance(source, str | Path):
        return _from_document(source, None)  # reports that a space is a mapping
    if isinstance(source, str) and source in presets():
        return load_preset(source)
    path = Path(source)
    if not path.is_file():
        hint = did_you_mean(str(source), presets()) if isinstance(source, str) else ""
        raise SearchSpaceError([("", f"no preset or file named {str(source)!r}{hint}; "
                                     f"presets: {presets()}")])
    text = path.read_text()
    try:
        document = json.loads(text) if path.suffix.lower() == ".json" else read_yaml(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise SearchSpaceError([("", f"cannot parse {path}: {exc}")]) from None
    if isinstance(document, Mapping) and "preset" in document:
        return _preset_reference(document)
    return _from_document(document, str(path))


def _preset_reference(document: Mapping[str, Any]) -> SearchSpace:
    extra = [str(k) for k in document if k != "preset"]
    errors = [(k, "a preset reference takes no other keys") for k in extra]
    name = document["preset"]
    if not isinstance(name, str) or name not in presets():
        errors.append(("preset", unknown_preset(name)))
    if errors:
        raise SearchSpaceError(errors)
    return load_preset(name)


def _from_document(document: Any, name: str | None) -> SearchSpace:
    errors = ErrorCollector()
    parsed = parse_document(document, errors)
    errors.raise_if_any()
    assert parsed is not None
    return SearchSpace(parsed, document, name=name)
