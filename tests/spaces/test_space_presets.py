"""Presets: listed, loadable by name, and every sampled candidate validates, builds and runs."""

from __future__ import annotations

import math
import os

import jsonschema
import optuna
import pytest
import torch

import search_spaces
from automtl.config import Candidate, ModelConfig, TaskSpec
from automtl.models import available_topologies, build_model, get_topology
from automtl.weighting import available_weightings, build_weighting, get_weighting
from automtl.weighting.gradient import GradientWeighting

PRESETS = ["default", "moe", "multi_domain", "ple_depth", "snr", "weighting"]


def test_a_preset_is_parsed_once_per_file_version_and_never_shared(tmp_path, monkeypatch):
    """Presets are parsed once (every read of a job's front validates its spec again), yet an
    edited file is read again and no caller can change what the next one loads."""
    import shutil

    import yaml

    from search_spaces import loader

    shutil.copy(loader.PRESET_DIR / "default.yaml", tmp_path / "default.yaml")
    monkeypatch.setattr(loader, "PRESET_DIR", tmp_path)
    parses = []
    read = loader.read_yaml
    monkeypatch.setattr(loader, "read_yaml", lambda text: parses.append(1) or read(text))
    first = search_spaces.load_preset("default")
    first.document["description"] = "changed by a caller"
    again = search_spaces.load({"preset": "default"})
    assert len(parses) == 1
    assert again.document["description"] != "changed by a caller"
    path = tmp_path / "default.yaml"
    path.write_text(yaml.safe_dump({**again.document, "description": "edited"}))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert search_spaces.load_preset("default").document["description"] == "edited"
    assert len(parses) == 2


def test_a_preset_is_validated_once_per_file_version_and_registry(monkeypatch):
    """POST /jobs validates the spec's preset on every submission: the validated form is kept
    per file version and registered settings models, each load still gets its own space and
    document, and registering a topology validates the preset again."""
    from automtl.config import TOPOLOGY_PARAMS
    from automtl.models.params import MMoEParams
    from search_spaces import loader

    loader._parsed_preset.cache_clear()
    validations = []
    parse = loader.parse_document
    monkeypatch.setattr(loader, "parse_document",
                        lambda doc, errors: validations.append(1) or parse(doc, errors))
    first = search_spaces.load({"preset": "default"})
    second = search_spaces.load_preset("default")
    assert len(validations) == 1
    assert first is not second and first.document is not second.document
    assert first == second and first.topologies == second.topologies
    first.left_out.append("changed by a caller")
    assert search_spaces.load_preset("default").left_out == []
    monkeypatch.setitem(TOPOLOGY_PARAMS._entries, "test_cached_preset", MMoEParams)
    search_spaces.load_preset("default")
    assert len(validations) == 2


def test_presets_are_listed_and_load_by_name_reference_and_path():
    assert set(PRESETS) <= set(search_spaces.presets())
    for name in search_spaces.presets():
        space = search_spaces.load(name)
        assert space.name == name and space.description
        assert search_spaces.load({"preset": name}).document == space.document
        path = search_spaces.loader.PRESET_DIR / f"{name}.yaml"
        assert search_spaces.load(path).document == space.document


def test_preset_contents():
    default = search_spaces.load("default")
    # every topology, except those that read each row's domain (star): the default preset
    # serves jobs without `domains`
    assert sorted(default.topologies) == [t for t in available_topologies()
                                          if "domains" not in get_topology(t).job_fields]
    multi = search_spaces.load("multi_domain").topologies
    assert "star" in multi and "star" not in default.topologies
    # fixed weights name tasks, which a task-agnostic preset cannot know
    every = [w for w in available_weightings() if w != "fixed"]
    assert sorted(search_spaces.load("weighting").weightings) == every
    # the default preset leaves out the per-task-gradient methods added with issue 18 (K extra
    # backward passes and a solver per step); every one-backward strategy is in it
    left_out = set(every) - set(default.weightings)
    assert all(issubclass(get_weighting(w), GradientWeighting) for w in left_out)
    assert {"rlw", "gls", "famo", "stch", "mgda", "pcgrad"} <= set(default.weightings)
    assert search_spaces.load("moe").topologies == ["omoe", "mmoe", "cgc", "ple"]
    ple = search_spaces.load("ple_depth")
    assert ple.topologies == ["ple"]
    assert ple.distributions()["ple/levels"] == optuna.distributions.IntDistribution(1, 4)
    snr = search_spaces.load("snr")
    assert snr.topologies == ["snr_trans", "snr_avg"]
    assert snr.distributions()["snr_trans/l0_lambda"].log
    weighting = search_spaces.load("weighting")
    assert weighting.topologies == ["mmoe"]
    searched = set(weighting.distributions())
    assert "weighting" in searched
    assert not any(n.startswith(("mmoe/", "architecture/", "optimizer/")) for n in searched)


@pytest.mark.parametrize("job", ["plain", "sequence"])
@pytest.mark.parametrize("preset", PRESETS)
def test_random_candidates_validate_build_and_run(preset, job, inputs, tasks, batch,
                                                  one_torch_thread):
    """A job without a ``sequence`` (nor ``domains``) gets the preset without the topologies
    that need one (aitm, star); a job with one gets aitm too, and every sampled candidate
    builds."""
    sequence = None
    if job == "sequence":
        tasks = [tasks[0], TaskSpec(name="purchase"), *tasks[1:]]
        sequence = ["click", "purchase"]
    space = search_spaces.load(preset).for_job({"sequence"} if sequence else set())
    needing = {t for t in available_topologies() if get_topology(t).job_fields}
    if sequence is None:
        assert not needing & set(space.topologies)
    elif preset == "default":
        # (star needs `domains`, which these jobs lack: still left out)
        assert {t for t in needing if get_topology(t).job_fields == {"sequence"}} \
            <= set(space.topologies)
        assert "star" not in space.topologies
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    models: dict[str, torch.nn.Module] = {}
    topologies, weightings = set(), set()
    numeric, categorical = batch
    for _ in range(200):
        trial = study.ask()
        candidate = Candidate.model_validate(space.sample(trial))
        # dropout does not change the structure: build each distinct structure once
        structure = candidate.architecture.model_copy(update={"dropout": 0.0})
        key = structure.model_dump_json()
        if key not in models:
            models[key] = build_model(ModelConfig.from_parts(structure, inputs, tasks,
                                                             sequence)).eval()
            with torch.no_grad():
                out = models[key](numeric, categorical)
            assert set(out) == {t.name for t in tasks}
            assert all(v.shape == (8,) and torch.isfinite(v).all() for v in out.values())
        build_weighting(candidate.weighting, tasks)
        topologies.add(candidate.architecture.topology)
        weightings.add(candidate.weighting.name)
        study.tell(trial, 0.0)
    assert topologies == set(space.topologies)
    assert weightings == set(space.weightings)


@pytest.mark.parametrize("preset", PRESETS)
def test_dropout_is_applied_as_sampled(preset, inputs, tasks):
    """The structure cache above ignores dropout; check that a sampled one builds too."""
    space = search_spaces.load(preset).for_job(set())  # a job without a sequence
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2))
    candidate = Candidate.model_validate(space.sample(study.ask()))
    model = build_model(ModelConfig.from_parts(candidate.architecture, inputs, tasks))
    rates = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert rates or candidate.architecture.dropout == 0.0
    assert all(math.isclose(p, candidate.architecture.dropout) for p in rates)


def test_json_schema_accepts_presets_and_rejects_malformed():
    schema = search_spaces.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for name in search_spaces.presets():
        validator.validate(search_spaces.load(name).document)
    validator.validate({"preset": "default"})
    validator.validate({"topology": {"choose": {"ple": {}}}})
    for bad in (
        {"topology": {"choose": {"transformer": {}}}},
        {"topology": {"choose": {"mmoe": {"levels": 2}}}},
        {"topology": {"choose": {"mmoe": {"experts": "four"}}}},
        {"topology": {"choose": {"mmoe": {"experts": {"int": [0, 4]}}}}},
        {"topology": {"choose": {"mmoe": {}}}, "trials": 3},
        {"topology": {"choose": {"mmoe": {}}}, "weighting": {"choose": {"gradnorm": {"a": 1}}}},
        {"preset": "nonesuch"},
    ):
        assert not validator.is_valid(bad), bad
    assert '"$ref"' not in str(schema).replace("'", '"')
