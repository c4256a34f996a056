"""The bundle's ``train.py`` runs as a script on a user's file, prints per-task metrics,
reproduces them with the same seed and saves weights that rebuild from its config."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from export_helpers import TASKS, dataset, make_frame, record, source, train_trial

from automtl.export import export_trial, load_bundle_config
from automtl.models import build_model

pytestmark = pytest.mark.slow  # each run starts a Python with torch, pandas and sklearn

METRIC_LINE = re.compile(r"^(valid|test)\s+(\w+)\s+((?:\w+=-?\d+\.\d{6}\s*)+)$")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train-script")
    data = dataset(make_frame(300, seed=1))
    _, _, result = train_trial(data, root / "trial-4", "mmoe", weighting="uncertainty")
    return export_trial(source(record(4, root / "trial-4", result)), root / "bundle",
                        trial=4).directory


def _train(bundle: Path, data: Path, out: Path, *extra: str) -> tuple[str, dict[str, str]]:
    completed = subprocess.run(
        [sys.executable, str(bundle / "train.py"), "--data", str(data), "--epochs", "2",
         "--seed", "5", "--device", "cpu", "--out", str(out), *extra],
        capture_output=True, text=True, timeout=300, cwd=out.parent)
    assert completed.returncode == 0, completed.stderr
    metrics = {}
    for line in completed.stdout.splitlines():
        match = METRIC_LINE.match(line.strip())
        if match:
            metrics[f"{match[1]}/{match[2]}"] = match[3].strip()
    return completed.stdout, metrics


def test_train_script_trains_evaluates_and_is_reproducible(bundle: Path,
                                                           tmp_path: Path) -> None:
    csv = tmp_path / "user.csv"
    make_frame(500, seed=11).to_csv(csv, index=False)
    stdout, first = _train(bundle, csv, tmp_path / "run1")
    # every task, on both splits, with its metrics
    assert set(first) == {f"{split}/{t.name}" for split in ("valid", "test") for t in TASKS}
    assert "auc=" in first["valid/click"] and "mse=" in first["test/watch"]
    assert "mmoe" in stdout and "weighting uncertainty" in stdout
    # the printed objective is named and explained, and each epoch shows what it is made of
    explained = next(line for line in stdout.splitlines() if "validation objective" in line)
    assert "picks the best epoch: mean of [click auc, " in explained
    assert "-(watch mse)" in explained and explained.endswith("higher is better")
    epochs = [line for line in stdout.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2 and all(re.fullmatch(
        r"epoch \d: valid click auc=\d\.\d{4} .*watch mse=\d+\.\d{4}.* \| objective "
        r"-?\d+\.\d{6}", line) for line in epochs), epochs
    _, second = _train(bundle, csv, tmp_path / "run2")
    assert second == first  # same seed, same numbers

    out = tmp_path / "run1"
    model_config, weighting, train = load_bundle_config(out / "config.yaml")
    assert (weighting.name, train.seed, train.epochs) == ("uncertainty", 5, 2)
    bundle_config = load_bundle_config(bundle / "config.yaml")
    assert model_config.architecture() == bundle_config.model.architecture()
    # the schema was re-fitted on the user's train rows, not copied from the bundle
    assert model_config.inputs != bundle_config.model.inputs
    model = build_model(model_config)
    model.load_state_dict(torch.load(out / "weights.pt", weights_only=True))
    saved = json.loads((out / "metrics.json").read_text())
    auc = float(first["valid/click"].split("auc=")[1].split()[0])
    assert saved["valid"]["click"]["auc"] == pytest.approx(auc, abs=1e-6)


def test_train_script_can_keep_the_bundle_schema_and_warm_start(bundle: Path,
                                                                tmp_path: Path) -> None:
    parquet = tmp_path / "user.parquet"
    make_frame(400, seed=12).to_parquet(parquet)
    _, metrics = _train(bundle, parquet, tmp_path / "warm", "--keep-schema", "--init",
                        str(bundle / "weights.pt"))
    assert "valid/ctcvr" in metrics
    model_config, _, _ = load_bundle_config(tmp_path / "warm" / "config.yaml")
    assert model_config == load_bundle_config(bundle / "config.yaml").model
    completed = subprocess.run(
        [sys.executable, str(bundle / "train.py"), "--data", str(parquet), "--init",
         str(bundle / "weights.pt")], capture_output=True, text=True, timeout=300)
    assert completed.returncode != 0 and "--init needs --keep-schema" in completed.stderr


def test_train_script_splits_by_the_search_rule_unless_told_to_resplit(
        tmp_path: Path) -> None:
    """Issue 19 item 8: the search used a split column, so train.py uses it too."""
    import numpy as np

    from automtl.export.sources import ExportSource

    data = dataset(make_frame(300, seed=1))
    _, _, result = train_trial(data, tmp_path / "trial-1", "shared_bottom")
    rule = {"data": {"seed": 3, "split": {"column": "fold", "train": "a", "valid": "b",
                                          "test": "c"}, "missing": "impute"}}
    split_source = ExportSource(label="job 8", objectives=source().objectives,
                                trials=[record(1, tmp_path / "trial-1", result)],
                                info={"job": 8, **rule})
    bundle = export_trial(split_source, tmp_path / "bundle", trial=1).directory
    frame = make_frame(500, seed=11)
    frame["fold"] = np.where(np.arange(500) < 350, "a", np.where(np.arange(500) < 450, "b", "c"))
    csv = tmp_path / "user.csv"
    frame.to_csv(csv, index=False)
    stdout, metrics = _train(bundle, csv, tmp_path / "by-rule")
    assert "split: column 'fold', as in the search" in stdout
    assert "350 train rows" in stdout and "test/click" in metrics
    stdout, _ = _train(bundle, csv, tmp_path / "resplit", "--resplit")
    assert "as in the search" not in stdout and "400 train rows" in stdout


def test_train_script_of_a_multi_domain_bundle_trains_per_domain_tasks(
        tmp_path: Path) -> None:
    """config.yaml holds the per-domain tasks and the domain column; train.py masks each
    task to its domain's rows again and reports every per-domain task."""
    from export_helpers import NUMERIC

    from automtl.config import DomainSpec, TaskSpec
    from automtl.data import TabularDataset

    tasks = [TaskSpec(name="click"), TaskSpec(name="watch", type="regression")]
    domains = DomainSpec(column="city", values=["paris", "rome", "oslo", "lima"])
    data = TabularDataset(make_frame(300, seed=1), tasks, numeric=NUMERIC,
                          categorical=["slot"], seed=0, domains=domains)
    _, _, result = train_trial(data, tmp_path / "trial-0", "star", tasks=data.tasks)
    bundle = export_trial(source(record(0, tmp_path / "trial-0", result,
                                        values={"click": 0.6, "watch": 1.0})),
                          tmp_path / "bundle", trial=0).directory
    csv = tmp_path / "user.csv"
    make_frame(500, seed=11).to_csv(csv, index=False)
    _, metrics = _train(bundle, csv, tmp_path / "run")
    assert set(metrics) == {f"{split}/{t.name}" for split in ("valid", "test")
                            for t in data.tasks}
    model_config, _, _ = load_bundle_config(tmp_path / "run" / "config.yaml")
    assert model_config.inputs.domain == domains and model_config.tasks == data.tasks


def test_train_script_help_shows_every_default(bundle: Path) -> None:
    """--device, --valid-fraction and --test-fraction had no help, so no default shown."""
    done = subprocess.run([sys.executable, str(bundle / "train.py"), "--help"],
                          capture_output=True, text=True, timeout=300, check=True)
    text = " ".join(done.stdout.split())
    expected_device = "cuda" if torch.cuda.is_available() else "cpu"
    for option, default in (("--device DEVICE", expected_device), ("--seed SEED", "0"),
                            ("--valid-fraction VALID_FRACTION", "0.1"),
                            ("--test-fraction TEST_FRACTION", "0.1"), ("--out OUT", "trained"),
                            ("--epochs EPOCHS", "the trial's")):
        # the option's own help: up to its first parenthesis, which must be its default
        assert re.search(re.escape(option) + r" [^()]*\(default: " + re.escape(default),
                         text), (option, text)
