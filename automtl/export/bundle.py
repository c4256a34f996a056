"""The training bundle of one trial: config, training script, standalone model, weights,
TorchScript, README and (when chosen from the front) the reason for the choice.

:func:`export_trial` selects the trial, reads its artifacts and writes the bundle;
:func:`zip_bundle` packs a bundle directory for the REST route. Files are written into a
temporary sibling directory first, so a failed export never leaves half a bundle behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from automtl import artifact_store
from automtl.config import ModelConfig, VocabularySetting
from automtl.data.encode import MAX_VOCABULARY, MIN_FREQUENCY
from automtl.export.choice import Choice
from automtl.export.config_file import BundleConfig, save_bundle_config
from automtl.export.errors import OutputDirectoryError
from automtl.export.render import render
from automtl.export.sources import (
    ExportSource,
    TrialArtifacts,
    TrialRecord,
    load_artifacts,
    select_trial,
)
from automtl.export.standalone import model_source

BUNDLE_FILES = ("config.yaml", "train.py", "model.py", "weights.pt", "model.ts", "README.md")
CHOICE_FILE = "choice.json"
#: rows of the example batch the TorchScript file is traced with
_TRACE_ROWS = 4


@dataclass(frozen=True)
class ExportResult:
    """A written bundle: where, which trial, how it was chosen and its files."""

    directory: Path
    record: TrialRecord
    choice: Choice | None
    files: list[str]


def export_trial(source: ExportSource, out_dir: str | Path, *, trial: int | None = None,
                 prefer: Mapping[str, float] | None = None,
                 overwrite: bool = False) -> ExportResult:
    """Export trial ``trial`` of ``source`` (or the front trial ``prefer`` chooses) to
    ``out_dir``, which must not exist or be empty unless ``overwrite``. Artifacts fetched from
    an object store stay locked in the fetch cache until the bundle is written
    (:func:`automtl.artifact_store.holding`)."""
    selection = select_trial(source, trial, prefer)
    with artifact_store.holding():
        artifacts = load_artifacts(source, selection.record)
        return write_bundle(out_dir, source, selection.record, artifacts, selection.choice,
                            overwrite=overwrite)


def trained_model(artifacts: TrialArtifacts) -> torch.nn.Module:
    """The trial's network with its trained weights, in eval mode, on the CPU."""
    from automtl.models import build_model

    model = build_model(artifacts.model_config)
    state = torch.load(artifacts.weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def example_inputs(config: ModelConfig, rows: int = _TRACE_ROWS,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random batch with the schema's shapes (category indices 0..cardinality-1)."""
    generator = torch.Generator().manual_seed(seed)
    numeric = torch.randn(rows, len(config.inputs.numeric), generator=generator)
    columns = [torch.randint(0, f.cardinality, (rows, 1), generator=generator)
               for f in config.inputs.categorical]
    categorical = torch.cat(columns, dim=1) if columns else torch.zeros(rows, 0,
                                                                         dtype=torch.int64)
    return numeric, categorical


def save_torchscript(model: torch.nn.Module, config: ModelConfig, path: Path) -> None:
    """``model`` traced (eval mode) to TorchScript at ``path``; ``forward`` returns
    ``{task: [N]}`` (``[N, C]`` logits for a multiclass task). torch 2.13 deprecates
    TorchScript in favour of ``torch.export``, but the issue asks for a file serving stacks
    load with ``torch.jit.load``, so the warning is muted."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")
        with torch.no_grad():
            traced = torch.jit.trace(model.eval(), example_inputs(config), strict=False)
        torch.jit.save(traced, str(path))


def write_bundle(out_dir: str | Path, source: ExportSource, record: TrialRecord,
                 artifacts: TrialArtifacts, choice: Choice | None = None, *,
                 overwrite: bool = False) -> ExportResult:
    """Write every bundle file for ``record`` into ``out_dir``."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not overwrite)):
        raise OutputDirectoryError(f"{out} exists and is not an empty directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    config = artifacts.model_config
    title = f"{source.label} trial {record.number} ({config.topology}, " \
            f"{artifacts.candidate.weighting.name} weighting)"
    source_info = _with_trial_vocabulary({**source.info, "trial": record.number},
                                         artifacts.candidate.vocabulary)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        work = Path(tmp)
        model = trained_model(artifacts)
        save_bundle_config(work / "config.yaml", BundleConfig(
            config, artifacts.candidate.weighting, artifacts.candidate.train), source_info)
        shutil.copyfile(artifacts.weights_path, work / "weights.pt")
        save_torchscript(model, config, work / "model.ts")
        (work / "model.py").write_text(model_source(config, title=title))
        (work / "train.py").write_text(_render("train.py.tmpl", TITLE=title,
                                               COLUMNS=_columns_text(config)))
        if choice is not None:
            (work / CHOICE_FILE).write_text(json.dumps(
                {"chosen_trial": choice.number, "source": source_info, **choice.to_dict()},
                indent=2))
        (work / "README.md").write_text(_readme(title, source, record, artifacts, choice))
        out.mkdir(exist_ok=True)
        files = sorted(p.name for p in work.iterdir())
        for name in files:
            (work / name).replace(out / name)
    return ExportResult(out, record, choice, files)


def _with_trial_vocabulary(info: dict[str, Any], setting: VocabularySetting) -> dict[str, Any]:
    """``info`` with the trial's searched vocabulary cap in its data rule (``source.data.
    vocabulary`` of ``config.yaml``), so ``train.py`` fits the vocabularies the trial had."""
    if setting.is_default:
        return info
    data = dict(info.get("data") or {})
    cap = {"max_size": MAX_VOCABULARY, "min_frequency": MIN_FREQUENCY,
           **(data.get("vocabulary") or {})}
    cap.update({k: v for k, v in setting.model_dump().items() if v is not None})
    return {**info, "data": {**data, "vocabulary": cap}}


def zip_bundle(directory: str | Path, zip_path: str | Path, folder: str | None = None) -> Path:
    """Pack a bundle directory into ``zip_path``, its files under ``folder/`` in the archive."""
    directory, zip_path = Path(directory), Path(zip_path)
    folder = folder or directory.name
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.iterdir()):
            archive.write(path, f"{folder}/{path.name}")
    return zip_path


# ---------------------------------------------------------------------------------------------
# text


def _render(template: str, **values: Any) -> str:
    return render(template, **values)


def _names(names: list[str], limit: int = 12) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", ... ({len(names) - limit} more, see config.yaml)"


def _columns_text(config: ModelConfig) -> str:
    lines = []
    if config.inputs.numeric:
        lines.append(f"  numeric features ({len(config.inputs.numeric)}): "
                     f"{_names(config.inputs.numeric_names)}")
    if config.inputs.categorical:
        lines.append(f"  categorical features ({len(config.inputs.categorical)}): "
                     f"{_names(config.inputs.categorical_names)}")
    labels = [f"{t.label} ({t.type}, task {t.name})" for t in config.tasks]
    lines.append(f"  labels: {', '.join(labels)}")
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        return f"{value:.6g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _readme(title: str, source: ExportSource, record: TrialRecord, artifacts: TrialArtifacts,
            choice: Choice | None) -> str:
    config = artifacts.model_config
    if choice is None:
        why = f"Trial {record.number} was exported by number."
    else:
        why = (f"Trial {record.number} was chosen from the {len(choice.front)}-trial Pareto "
               f"front with weights {choice.weights_text()}: {choice.reason}. "
               f"Rule: {choice.rule}. The scores of every front trial are in `choice.json`.")
    objectives = _table(["objective", "direction", "value"],
                        [[o.name, o.direction, (record.values or {}).get(o.name, "")]
                         for o in source.objectives])
    metric_rows = [[split, task, name, value]
                   for split, metrics in (("valid", record.valid), ("test", record.test))
                   for task, values in metrics.items() for name, value in values.items()]
    metrics = _table(["split", "task", "metric", "value"], metric_rows) if metric_rows \
        else "(none recorded)"
    if record.latency_ms is not None:
        metrics += f"\n\nInference latency: {record.latency_ms:.4g} ms per 1,000 rows."
    example = ", ".join([f'"{f.name}": 0.0' for f in config.inputs.numeric[:2]]
                        + [f'"{f.name}": "{(f.vocabulary or ["value"])[0]}"'
                           for f in config.inputs.categorical[:1]] + ["..."])
    params = record.num_params if record.num_params is not None else \
        sum(p.numel() for p in trained_model(artifacts).parameters())
    return _render(
        "README.md.tmpl", TITLE=title, SOURCE=_source_text(source), TOPOLOGY=config.topology,
        WEIGHTING=artifacts.candidate.weighting.name, PARAMS=f"{params:,}", WHY=why,
        NUMBER=record.number, OBJECTIVES=objectives, METRICS=metrics,
        CHOICE_ROW=("| `choice.json` | how this trial was chosen among the front trials: "
                    "weights, normalised objectives and scores |\n") if choice else "",
        N_NUMERIC=len(config.inputs.numeric), N_CATEGORICAL=len(config.inputs.categorical),
        EXAMPLE_ROW="{" + example + "}", AUTOMTL_VERSION=_automtl_version())


def _automtl_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"version {version('automtl')}"
    except PackageNotFoundError:  # a checkout on sys.path, not installed
        return "a source checkout"


def _source_text(source: ExportSource) -> str:
    """Where the trial came from in words: ``job 3 (name demo; data: seed 0, split: valid 0.1,
    test 0.1)``, nested settings as ``key: value`` lists, never a Python repr."""
    details = "; ".join(f"{k}{':' if isinstance(v, dict) else ''} {_words(v)}"
                        for k, v in source.info.items()
                        if k not in ("job", "study") or not source.label.startswith(k))
    return f"{source.label} ({details})" if details else source.label


def _words(value: Any) -> str:
    """A setting in words: a mapping as ``key value, key: (nested)``, a list comma-joined,
    numbers with ``:g``, ``None`` as ``none``."""
    if isinstance(value, dict):
        return ", ".join(f"{k}: ({_words(v)})" if isinstance(v, dict) else f"{k} {_words(v)}"
                         for k, v in value.items() if v is not None)
    if isinstance(value, list | tuple):
        return ", ".join(_words(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)
