"""Issue 19: the vocabulary cap as a searched parameter. The DSL's ``vocabulary`` section is
sampled per trial; the data is encoded once at the loosest cap and each trial narrows it to
exactly what fitting with its own cap gives, which its saved model config (and so the export)
carries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch

import search_spaces
from automtl.config import Candidate, ModelConfig, TaskSpec, VocabularySetting
from automtl.data import TabularDataset, encode_frame
from automtl.data.encode import fit_vocabulary
from automtl.data.vocabulary import narrow_schema, narrow_split
from automtl.jobspec import VocabularyCap, load_job_spec
from automtl.search.datasets import load_dataset, search_vocabulary
from automtl.search.feasibility import static_params
from automtl.search.trainable import TrialContext, run_trial
from search_spaces.errors import SearchSpaceError

TASKS = [TaskSpec(name="click")]


def _frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """A skewed id column (a few frequent values, a long tail) and a small code column."""
    rng = np.random.default_rng(seed)
    user = np.minimum(rng.zipf(1.5, size=rows), 300)
    return pd.DataFrame({"x": rng.normal(size=rows), "user_id": user,
                         "slot": rng.integers(0, 5, rows),
                         "click": (rng.random(rows) < 0.4).astype(float)})


@pytest.mark.parametrize(("max_size", "min_frequency"),
                         [(3, None), (20, None), (None, 2), (None, 5), (7, 3), (1, 1)])
def test_narrowing_equals_fitting_with_the_tighter_cap(max_size: int | None,
                                                       min_frequency: int | None) -> None:
    frame = _frame()
    data = TabularDataset(frame, TASKS, numeric=["x"], categorical=["user_id", "slot"],
                          seed=0)
    setting = VocabularySetting(max_size=max_size, min_frequency=min_frequency)
    narrowed, lookups = narrow_schema(data.schema, setting)
    train_rows = frame.iloc[data.split_rows["train"]]
    for feature in narrowed.categorical:
        assert feature.vocabulary == fit_vocabulary(train_rows[feature.name],
                                                    max_size or 50_000, min_frequency or 1)
    for name, split in data.splits.items():  # the gather equals encoding with the new schema
        expected = encode_frame(frame.iloc[data.split_rows[name]], narrowed, TASKS)
        assert torch.equal(narrow_split(split, lookups).categorical, expected.categorical)
    assert narrowed.categorical[0].counts  # still narrowable in memory ...
    assert "counts" not in narrowed.model_dump()["categorical"][0]  # ... but never written


def test_the_dsl_samples_a_vocabulary_cap_and_rejects_bad_ones() -> None:
    document = {"topology": {"choose": {"shared_bottom": {}}},
                "vocabulary": {"max_size": {"categorical": [10, 1000]}, "min_frequency": 2}}
    space = search_spaces.load(document)
    assert space.vocabulary_values() == {"max_size": (10, 1000), "min_frequency": (2,)}
    assert "vocabulary/max_size" in space.distributions()
    shown = {p.name: p.combinations for p in space.summary().optimizer.params}
    assert shown["vocabulary/max_size"] == 2 and shown["vocabulary/min_frequency"] == 1
    assert "vocabulary/max_size  one of 10, 1000" in space.describe()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    sampled = {Candidate.model_validate(space.sample(study.ask())).vocabulary.max_size
               for _ in range(12)}
    assert sampled == {10, 1000}
    fixed = Candidate.model_validate(space.fixed_candidate({"vocabulary/max_size": 10}))
    assert fixed.vocabulary == VocabularySetting(max_size=10, min_frequency=2)
    plain = search_spaces.load({"topology": {"choose": {"shared_bottom": {}}}})
    assert plain.vocabulary_values() == {} and "vocabulary" not in plain.sample(
        optuna.trial.FixedTrial({}))
    with pytest.raises(SearchSpaceError) as caught:
        search_spaces.load({**document, "vocabulary": {"max_size": 0, "buckets": 8}})
    paths = dict(caught.value.errors)
    assert "must be >= 1" in paths["vocabulary.max_size"]
    assert "unknown parameter 'buckets'" in paths["vocabulary.buckets"]


def test_the_data_is_encoded_at_the_loosest_cap_the_space_allows(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    _frame().to_csv(path, index=False)
    spec = load_job_spec({
        "name": "vocab", "dataset": {"path": str(path), "vocabulary": {"max_size": 5},
                                     "features": {"numeric": ["x"],
                                                  "categorical": ["user_id", "slot"]}},
        "tasks": [{"name": "click"}], "budget": {"epochs": 1},
        "search_space": {"topology": {"choose": {"shared_bottom": {"bottom_units": [8]}}},
                         "architecture": {"tower_units": [4], "embedding_dim": 4},
                         "vocabulary": {"max_size": {"categorical": [3, 40]}}}})
    loosest = search_vocabulary(spec.dataset, spec.space.vocabulary_values())
    assert loosest == VocabularyCap(max_size=40, min_frequency=1)
    data = load_dataset(spec.dataset, spec.tasks, spec.seed, vocabulary=loosest)
    assert len(data.schema.categorical[0].vocabulary) == 40
    context = TrialContext(spec=spec, inputs=data.schema, train=data.train, valid=data.valid,
                           test=data.test, artifact_root=str(tmp_path / "trials"))
    small = {"architecture": {"topology": "shared_bottom", "bottom_units": [8],
                              "tower_units": [4], "embedding_dim": 4},
             "train": {"batch_size": 64}, "vocabulary": {"max_size": 3}}
    large = {**small, "vocabulary": {"max_size": 40}}
    assert static_params(small, data.schema, spec.tasks) == \
        static_params(large, data.schema, spec.tasks) - (40 - 3) * 4 - (5 - 3) * 4  # rows x dim
    first = context.for_vocabulary(VocabularySetting(max_size=3))
    assert context.for_vocabulary(VocabularySetting(max_size=3)) is first  # cached per value
    assert int(first.train.categorical[:, 0].max()) <= 3
    result = run_trial(small, 0, context, lambda _: None)
    saved = ModelConfig.model_validate(json.loads(
        (Path(result["artifact"]) / "model_config.json").read_text()))
    assert len(saved.inputs.categorical[0].vocabulary) == 3  # what the export rebuilds
    assert len(saved.inputs.categorical[1].vocabulary) == 3  # slot: 5 values, capped too
    assert result["cost/params"] == static_params(small, data.schema, spec.tasks)
