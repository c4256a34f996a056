"""Issue 19 end to end through Ray: a search over a table with a multiclass task and a searched
vocabulary cap, then the export of its front trial: the bundle predicts [N, C] probabilities in
the original class labels with the vocabularies of the trial's own cap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from automtl.search import run_search

pytestmark = pytest.mark.slow

SEGMENTS = ["a", "b", "c"]


def _table(path: Path, rows: int = 900) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 2))
    user = np.minimum(rng.zipf(1.4, rows), 200)
    segment = np.array(SEGMENTS, dtype=object)[np.digitize(x[:, 0] + 0.3 * (user % 3),
                                                             [-0.5, 0.5])]
    pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "user_id": user,
                  "click": (x[:, 1] + rng.normal(size=rows) > 0).astype(float),
                  "segment": segment}).to_csv(path, index=False)
    return path


def test_a_multiclass_search_with_a_searched_vocabulary_cap_exports_what_it_trained(
        local_ray: None, tmp_path: Path) -> None:
    from automtl.export import export_trial
    from automtl.export.sources import search_dir_source
    from automtl.export.standalone import load_module

    data = _table(tmp_path / "table.csv")
    spec = {
        "name": "mc", "seed": 0,
        "dataset": {"path": str(data), "features": {"numeric": ["x0", "x1"],
                                                    "categorical": ["user_id"]}},
        "tasks": [{"name": "click"}, {"name": "segment", "type": "multiclass"}],
        "search_space": {
            "topology": {"choose": {"mmoe": {"experts": 2}}},
            "architecture": {"expert_units": [8], "tower_units": [8], "embedding_dim": 4},
            "weighting": {"choose": {"mgda": {}, "uncertainty": {}}},
            "optimizer": {"lr": 0.02, "batch_size": 64, "epochs": 2},
            "vocabulary": {"max_size": {"categorical": [3, 30]}}},
        "sampler": "random", "budget": {"trials": 3, "concurrency": 1}}
    out = tmp_path / "search"
    result = run_search(spec, storage_url=f"sqlite:///{out / 'automtl.db'}", artifact_dir=out)
    assert result.complete == 3 and result.failed == 0, result
    source = search_dir_source(out)
    front = [r for r in source.trials if r.on_front]
    assert front and all("auc_macro" in r.valid["segment"] for r in source.trials)
    bundle = export_trial(source, tmp_path / "bundle", trial=front[0].number).directory
    config = yaml.safe_load((bundle / "config.yaml").read_text())
    cap = config["source"]["data"]["vocabulary"]["max_size"]
    assert cap in (3, 30)  # the trial's own cap, for train.py
    assert len(config["model"]["inputs"]["categorical"][0]["vocabulary"]) == cap
    exported = load_module(bundle / "model.py", "mc_search_model")
    assert exported.class_labels("segment") == SEGMENTS
    scores = exported.predict(exported.load_model(str(bundle / "weights.pt")),
                              pd.read_csv(data).iloc[:20])
    assert scores["segment"].shape == (20, 3)
    torch.testing.assert_close(scores["segment"].sum(dim=1), torch.ones(20))
    # the bundle's train.py refits on the table with the trial's cap and trains the task
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, str(bundle / "train.py"), "--data", str(data), "--epochs", "1",
         "--out", str(tmp_path / "retrained")], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "segment" in completed.stdout and "auc_macro=" in completed.stdout
    retrained = yaml.safe_load((tmp_path / "retrained" / "config.yaml").read_text())
    assert len(retrained["model"]["inputs"]["categorical"][0]["vocabulary"]) == cap
    assert retrained["model"]["inputs"]["classes"] == [{"task": "segment",
                                                        "classes": SEGMENTS}]
