"""An aitm bundle keeps the job's conversion sequence: its config.yaml rebuilds the network and
its train.py retrains it on a user's file (re-fitted schema, same sequence)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from export_helpers import dataset, make_frame, record, source, train_trial

from automtl.export import export_trial, load_bundle_config
from automtl.models import build_model

pytestmark = pytest.mark.slow  # the script run starts a Python with torch and pandas


def test_aitm_bundle_keeps_the_sequence_and_retrains(tmp_path: Path) -> None:
    data = dataset(make_frame(300, seed=1))
    model, _, result = train_trial(data, tmp_path / "trial-2", "aitm")
    assert model.config.sequence == ["click", "conv"]
    bundle = export_trial(source(record(2, tmp_path / "trial-2", result)), tmp_path / "bundle",
                          trial=2).directory
    config, _, _ = load_bundle_config(bundle / "config.yaml")
    assert config.sequence == ["click", "conv"] and config == model.config
    csv = tmp_path / "user.csv"
    make_frame(400, seed=11).to_csv(csv, index=False)
    out = tmp_path / "run"
    completed = subprocess.run(
        [sys.executable, str(bundle / "train.py"), "--data", str(csv), "--epochs", "1",
         "--device", "cpu", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    retrained, _, _ = load_bundle_config(out / "config.yaml")
    assert retrained.sequence == ["click", "conv"]
    assert retrained.inputs != config.inputs  # re-fitted on the user's rows
    assert build_model(retrained).num_parameters() == model.num_parameters()
