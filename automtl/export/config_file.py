"""``config.yaml``: the complete, validated candidate of an exported trial.

One document holds everything needed to rebuild and retrain the trained network: the
:class:`~automtl.config.ModelConfig` (topology, every size, tasks, input schema with feature
names, vocabularies and standardisation statistics), the loss weighting with its parameters and
the optimiser/training settings. :func:`load_bundle_config` validates all of it (the weighting's
parameters by the strategy itself), so ``automtl.build_model(load_bundle_config(p).model)`` is
exactly the trained architecture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml
from pydantic import Field, ValidationError

from automtl.config import ModelConfig, StrictModel, TrainConfig, WeightingConfig
from automtl.export.errors import BundleConfigError

BUNDLE_FORMAT = "automtl-bundle/1"


class BundleConfig(NamedTuple):
    """What ``config.yaml`` describes; unpacks as ``model, weighting, train``."""

    model: ModelConfig
    weighting: WeightingConfig
    train: TrainConfig


class BundleDocument(StrictModel):
    """The schema of ``config.yaml``; ``source`` says where the trial came from (informative)."""

    format: Literal["automtl-bundle/1"] = "automtl-bundle/1"
    source: dict[str, Any] = Field(default_factory=dict)
    model: ModelConfig
    weighting: WeightingConfig
    train: TrainConfig


def bundle_yaml(config: BundleConfig, source: dict[str, Any] | None = None) -> str:
    """The text of ``config.yaml`` for ``config`` (validated first, so what is written loads)."""
    _check_weighting(config.model, config.weighting)
    document = BundleDocument(source=dict(source or {}), model=config.model,
                              weighting=config.weighting, train=config.train)
    header = ("# automtl training bundle: the complete candidate of one trial.\n"
              "# Load (and validate) it with automtl.export.load_bundle_config(path), which\n"
              "# returns (ModelConfig, WeightingConfig, TrainConfig); automtl.build_model(model)\n"
              "# rebuilds exactly the trained architecture.\n")
    data = document.model_dump(mode="json")
    inputs = data["model"]["inputs"]
    for key in ("numeric", "categorical"):
        inputs[key] = [_OneLine(item) for item in inputs[key]]
    data["model"]["tasks"] = [_OneLine(item) for item in data["model"]["tasks"]]
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     width=100, allow_unicode=True)
    return header + body


class _OneLine(dict[str, Any]):
    """A mapping written on one line (a feature, a task)."""


class _Dumper(yaml.SafeDumper):
    """Block mappings; lists of scalars and :class:`_OneLine` mappings in flow style."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(item, (dict, list)) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_one_line(dumper: yaml.SafeDumper, data: _OneLine) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(_OneLine, _represent_one_line)


def save_bundle_config(path: str | Path, config: BundleConfig,
                       source: dict[str, Any] | None = None) -> Path:
    """Write ``config`` as a bundle ``config.yaml`` at ``path``."""
    path = Path(path)
    path.write_text(bundle_yaml(config, source))
    return path


def load_bundle_config(path: str | Path) -> BundleConfig:
    """Read and validate a bundle's ``config.yaml``: ``(ModelConfig, WeightingConfig,
    TrainConfig)``. Any problem raises :class:`BundleConfigError` naming the field."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise BundleConfigError(f"{path}: cannot read the bundle config: {exc}") from None
    except yaml.YAMLError as exc:
        raise BundleConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise BundleConfigError(f"{path}: a bundle config is a mapping with model, weighting "
                                "and train")
    try:
        parsed = BundleDocument.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: "
            f"{str(err['msg']).removeprefix('Value error, ')}"
            for err in exc.errors(include_url=False))
        raise BundleConfigError(f"{path}: {problems}") from None
    try:
        _check_weighting(parsed.model, parsed.weighting)
    except ValueError as exc:
        raise BundleConfigError(f"{path}: weighting: {exc}") from None
    return BundleConfig(parsed.model, parsed.weighting, parsed.train)


def _check_weighting(model: ModelConfig, weighting: WeightingConfig) -> None:
    """Let the strategy validate its parameters against the tasks (as training would)."""
    from automtl.weighting import build_weighting

    try:
        build_weighting(weighting, model.tasks)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None
