"""End to end through a real search: ``run_search`` (Ray Tune + Optuna, 2 trials of 1 epoch on
1,500 rows) then ``automtl export --search-dir``. The bundle rebuilds the trial's architecture
with its parameter count, and TorchScript and the standalone model.py give the predictions of
the trial's saved model."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
from export_helpers import CATEGORICAL, NUMERIC, TASKS, make_frame

from automtl.cli import main
from automtl.config import ModelConfig
from automtl.data import encode_frame
from automtl.export import load_bundle_config
from automtl.export.standalone import load_module
from automtl.models import build_model
from automtl.trial_record import outcome_from_trial

pytestmark = pytest.mark.slow  # starts Ray

NAME = "export-e2e"
STUDY = f"automtl-{NAME}"


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os

    from automtl.search import run_search

    root = tmp_path_factory.mktemp("search")
    make_frame(1500, seed=3).to_csv(root / "data.csv", index=False)
    spec = {
        "name": NAME,
        "dataset": {"path": str(root / "data.csv"),
                    "features": {"numeric": NUMERIC, "categorical": CATEGORICAL}},
        "tasks": [t.model_dump(exclude_none=True) for t in TASKS],
        "objectives": ["click", "watch"],
        "search_space": {
            "architecture": {"embedding_dim": 4, "expert_units": [16], "tower_units": [8],
                             "gate_units": [4]},
            "topology": {"choose": {"mmoe": {"experts": {"int": [2, 3]}},
                                    "ple": {"levels": 2, "shared_experts": 1,
                                            "task_experts": 1}}},
            "weighting": {"choose": {"equal": {}, "uncertainty": {}}},
            "optimizer": {"lr": 0.01, "batch_size": 256, "epochs": 1},
        },
        "sampler": "random",
        "budget": {"trials": 2, "epochs": 1},
        "seed": 1,
    }
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    out = root / "run"
    result = run_search(spec, artifact_dir=out, num_cpus=2)
    assert result.complete == 2, result
    return out


def _outcomes(search_dir: Path) -> dict[int, Any]:
    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{search_dir / 'automtl.db'}")
    return {t.number: outcome_from_trial(t, ["click", "watch"]) for t in study.get_trials()}


def _trial_model(artifact: str) -> tuple[torch.nn.Module, ModelConfig]:
    """The trial's network exactly as the trainable saved it."""
    config = ModelConfig.model_validate_json((Path(artifact) / "model_config.json").read_text())
    model = build_model(config)
    model.load_state_dict(torch.load(Path(artifact) / "model.pt", weights_only=True))
    return model.eval(), config


def test_export_from_a_search_directory(search_dir: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bundle"
    assert main(["export", "--search-dir", str(search_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    choice = json.loads((out / "choice.json").read_text())
    number = choice["chosen_trial"]
    assert f"chose trial {number} of study {STUDY}" in printed
    # the README says where the trial came from in words, no Python dict, and a true install
    readme = (out / "README.md").read_text()
    source_line = next(line for line in readme.splitlines() if line.startswith("Exported by"))
    assert "data: seed 1" in source_line, source_line
    assert not any(c in source_line for c in "{}'"), source_line
    assert "pip install automtl`" not in readme and "\n    pip install /path/to/automtl\n" in readme
    outcome = _outcomes(search_dir)[number]
    assert outcome.state == "COMPLETE" and number in [t["number"] for t in choice["front"]]

    model_config, weighting, train = load_bundle_config(out / "config.yaml")
    assert build_model(model_config).num_parameters() == outcome.num_params
    assert weighting.model_dump() == outcome.candidate["weighting"]
    assert train.epochs == 1 and train.seed == 1 + number  # the trial's own seed

    trained, config = _trial_model(outcome.artifact)
    assert model_config == config
    rows = encode_frame(make_frame(200, seed=4), config.inputs, TASKS, labels=False)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load in torch 2.13
        expected = trained(rows.numeric, rows.categorical)
        scripted = torch.jit.load(str(out / "model.ts"))(rows.numeric, rows.categorical)
        standalone = load_module(out / "model.py", "search_bundle_model").load_model(
            str(out / "weights.pt"))
        loose = standalone(rows.numeric, rows.categorical)
    differences = {}
    for label, outputs in (("model.ts", scripted), ("model.py", loose)):
        assert list(outputs) == list(expected)
        differences[label] = max(float((outputs[k] - expected[k]).abs().max())
                                 for k in expected)
    print(f"\nsearch trial {number} ({config.topology}): max |difference| {differences}")
    assert max(differences.values()) <= 1e-5


def test_export_each_trial_by_number(search_dir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    outcomes = _outcomes(search_dir)
    for number, outcome in outcomes.items():
        out = tmp_path / f"trial-{number}"
        assert main(["export", "--search-dir", str(search_dir), "--trial", str(number),
                     "--out", str(out)]) == 0
        model_config, _, _ = load_bundle_config(out / "config.yaml")
        assert model_config.topology == outcome.candidate["architecture"]["topology"]
        assert "Metrics of trial" in (out / "README.md").read_text()
    capsys.readouterr()
    missing = max(outcomes) + 5
    assert main(["export", "--search-dir", str(search_dir), "--trial", str(missing),
                 "--out", str(tmp_path / "none")]) == 2
    assert f"study {STUDY} has no trial {missing}" in capsys.readouterr().err
    assert main(["export", "--search-dir", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "is not a search directory" in capsys.readouterr().err


def test_report_reads_a_search_whose_database_lies_elsewhere_through_db(search_dir: Path,
                                                                        tmp_path: Path) -> None:
    """``automtl report --search-dir DIR --db URL``: the hint of a directory without its
    ``automtl.db`` names ``--db``, and the flag then works (a fresh user found it missing)."""
    import sqlite3

    moved = tmp_path / "elsewhere.db"
    with sqlite3.connect(search_dir / "automtl.db") as source, sqlite3.connect(moved) as copy:
        source.backup(copy)  # with its WAL, which a file copy would leave behind
    empty = tmp_path / "run"
    empty.mkdir()
    out = tmp_path / "front.csv"
    assert main(["report", "--search-dir", str(empty), "--format", "csv", "--out", str(out),
                 "--db", f"sqlite:///{moved}"]) == 0
    rows = out.read_text().splitlines()
    assert len(rows) >= 2 and "valid_" in rows[0]
    assert main(["report", "1", "--db", f"sqlite:///{moved}"]) == 2  # --db is for local reads
