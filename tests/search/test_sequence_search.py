"""A tiny whole search with a conversion ``sequence`` through Ray Tune: aitm trains next to
mmoe on the funnel generator's data, and its trial's saved model config carries the sequence
so the network is rebuilt from it alone."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

from automtl.config import ModelConfig
from automtl.data.funnel import make_funnel
from automtl.models.registry import build_model
from automtl.search import run_search
from automtl.search.study import open_storage
from automtl.trial_record import ATTR_CANDIDATE, stored_attrs

pytestmark = pytest.mark.slow


def test_a_search_with_a_sequence_trains_aitm(local_ray: None, tmp_path: Path) -> None:
    table = tmp_path / "funnel.csv"
    make_funnel(rows=1500, features=6, seed=0).to_csv(table, index=False)
    spec = {"name": "funnel", "seed": 1, "dataset": {"path": str(table)},
            "tasks": [{"name": "click"}, {"name": "purchase"}],
            "sequence": ["click", "purchase"],
            "search_space": {
                "topology": {"choose": {"aitm": {"calibrator_weight": 0.6}, "mmoe": {}}},
                "architecture": {"bottom_units": [8], "expert_units": [8],
                                 "tower_units": [8], "embedding_dim": 4},
                "optimizer": {"lr": 0.01, "batch_size": 256, "epochs": 1}},
            "budget": {"trials": 2, "concurrency": 1}}
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(storage=open_storage(url), study_name="automtl-funnel",
                                directions=["maximize", "maximize"])
    study.enqueue_trial({"topology": "aitm"})
    study.enqueue_trial({"topology": "mmoe"})
    result = run_search(spec, storage_url=url, artifact_dir=tmp_path / "trials")
    assert result.complete == 2
    study = optuna.load_study(study_name=result.study_name, storage=open_storage(url))
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    by_topology = {stored_attrs(t)[ATTR_CANDIDATE]["architecture"]["topology"]: t for t in trials}
    assert set(by_topology) == {"aitm", "mmoe"}
    aitm = by_topology["aitm"]
    assert 0.0 <= stored_attrs(aitm)["automtl:valid"]["purchase"]["auc"] <= 1.0
    directory = Path(stored_attrs(aitm)["automtl:artifact"])
    config = ModelConfig.model_validate(json.loads((directory / "model_config.json").read_text()))
    assert config.sequence == ["click", "purchase"]
    model = build_model(config)
    model.load_state_dict(torch.load(directory / "model.pt"), strict=True)
    assert model.num_parameters() == stored_attrs(aitm)["automtl:params"]
