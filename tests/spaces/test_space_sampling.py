"""Sampling: hierarchical names, one distribution per name, candidates that rebuild exactly."""

from __future__ import annotations

import json
import warnings

import optuna
import pytest

import search_spaces
from automtl.config import ArchitectureConfig, Candidate
from automtl.models import available_topologies, get_topology
from automtl.weighting import available_weightings, build_weighting
from search_spaces import SearchSpaceError
from search_spaces.catalog import topology_tables

ISSUE_EXAMPLE = """
topology:
  choose:
    mmoe: {experts: {int: [2, 16]}, expert_units: {categorical: [[64], [128, 64]]}}
    ple:  {levels: {int: [1, 3]}, shared_experts: {int: [1, 4]}, task_experts: {int: [1, 4]}}
    snr_trans: {l0_lambda: {float: [1.0e-6, 1.0e-3], log: true}}
weighting:
  choose: {equal: {}, uncertainty: {}, gradnorm: {alpha: {float: [0.5, 2.5]}}}
optimizer: {lr: {float: [1.0e-4, 1.0e-2], log: true}, batch_size: {categorical: [512, 2048]}}
"""


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def random_trials(space, n, seed=0, enqueue=()):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for params in enqueue:
        study.enqueue_trial(params)
    for _ in range(n):
        trial = study.ask()
        yield trial, space.sample(trial)
        study.tell(trial, 0.0)


def test_issue_example_loads_and_maps_to_candidate_fields():
    space = search_spaces.load(search_spaces.read_yaml(ISSUE_EXAMPLE))
    assert space.topologies == ["mmoe", "ple", "snr_trans"]
    assert space.weightings == ["equal", "uncertainty", "gradnorm"]
    mmoe = space.fixed_candidate({"topology": "mmoe", "mmoe/experts": 7,
                                  "mmoe/expert_units": "128-64", "weighting": "gradnorm",
                                  "gradnorm/alpha": 2.0, "optimizer/lr": 0.005,
                                  "optimizer/batch_size": 2048})
    assert mmoe["architecture"]["num_shared_experts"] == 7
    assert mmoe["architecture"]["expert_units"] == [128, 64]
    assert mmoe["weighting"] == {"name": "gradnorm", "params": {"alpha": 2.0, "lr": 0.025}}
    assert mmoe["train"]["lr"] == 0.005 and mmoe["train"]["batch_size"] == 2048
    ple = space.fixed_candidate({"topology": "ple", "ple/levels": 3, "ple/shared_experts": 2,
                                 "ple/task_experts": 4, "weighting": "equal",
                                 "optimizer/lr": 0.001, "optimizer/batch_size": 512})
    assert (ple["architecture"]["levels"], ple["architecture"]["num_shared_experts"],
            ple["architecture"]["num_task_experts"]) == (3, 2, 4)
    snr = space.fixed_candidate({"topology": "snr_trans", "snr_trans/l0_lambda": 1e-5,
                                 "weighting": "uncertainty", "optimizer/lr": 0.001,
                                 "optimizer/batch_size": 512})
    assert snr["train"]["l0_lambda"] == 1e-5
    # SNR's own settings are read from its Params (flat in the sampled candidate)
    keys = ("layers", "subnetworks", "beta", "gamma", "zeta", "init_drop_rate",
            "l0_warmup_epochs", "gate_lr")
    assert {k: snr["architecture"][k] for k in keys} == {
        "layers": 2, "subnetworks": 3, "beta": 2 / 3, "gamma": -0.1, "zeta": 1.1,
        "init_drop_rate": 0.5, "l0_warmup_epochs": 1.0, "gate_lr": 0.1}
    for candidate in (mmoe, ple, snr):
        Candidate.model_validate(candidate)


def test_minimal_space_is_a_fixed_ple_with_defaults():
    space = search_spaces.load({"topology": {"choose": {"ple": {}}}})
    assert space.distributions() == {}
    candidate = Candidate.model_validate(space.fixed_candidate({}))
    defaults = Candidate()
    assert candidate.architecture == ArchitectureConfig(topology="ple")
    assert candidate.weighting.name == "equal" and candidate.train == defaults.train


@pytest.mark.parametrize("topology", sorted(topology_tables()))
def test_fixed_trial_round_trip_for_every_topology(topology):
    # a topology that reads the domain (star) is in the multi-domain preset, not in default
    needs_domains = "domains" in get_topology(topology).job_fields
    space = search_spaces.load("multi_domain" if needs_domains else "default")
    for trial, candidate in random_trials(space, 5, seed=3, enqueue=[{"topology": topology}] * 5):
        assert candidate["architecture"]["topology"] == topology
        rebuilt = space.fixed_candidate(trial.params)
        assert rebuilt == candidate
        assert space.sample(optuna.trial.FixedTrial(trial.params)) == candidate
        Candidate.model_validate(rebuilt)


def test_names_are_hierarchical_with_one_distribution_each():
    space = search_spaces.load("default")
    allowed = space.distributions()
    prefixes = {*space.topologies, *space.weightings, "architecture", "optimizer"}
    seen = set()
    for trial, _ in random_trials(space, 100, seed=4):
        for name, dist in trial.distributions.items():
            assert name in ("topology", "weighting") or name.split("/")[0] in prefixes
            assert allowed[name] == dist
            seen.add(name)
    assert "ple/levels" in seen and "gradnorm/alpha" in seen and "optimizer/lr" in seen
    # the same key in different branches is a different parameter
    assert {"dtp/gamma", "ple_decay/gamma"} <= set(allowed)


def test_branch_setting_overrides_the_shared_architecture_section():
    space = search_spaces.load({
        "architecture": {"dropout": {"float": [0.0, 0.5]}, "expert_units": [32]},
        "topology": {"choose": {"mmoe": {"dropout": 0.25}, "ple": {}, "shared_bottom": {}}},
    })
    dists = space.distributions()
    assert "architecture/dropout" in dists and "mmoe/dropout" not in dists
    mmoe = space.fixed_candidate({"topology": "mmoe"})
    assert mmoe["architecture"]["dropout"] == 0.25 and mmoe["architecture"]["expert_units"] == [32]
    ple = space.fixed_candidate({"topology": "ple", "architecture/dropout": 0.1})
    assert ple["architecture"]["dropout"] == 0.1
    bottom = space.fixed_candidate({"topology": "shared_bottom", "architecture/dropout": 0.3})
    assert "expert_units" not in bottom["architecture"]


def test_rdb_storage_round_trip(tmp_path):
    space = search_spaces.load("default")
    url = f"sqlite:///{tmp_path / 'optuna.db'}"

    def objective(trial):
        candidate = space.sample(trial)
        trial.set_user_attr("candidate", json.dumps(candidate))
        return trial.number * 0.1

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "choices ... should be ... for persistent storage"
        study = optuna.create_study(storage=url, study_name="s",
                                    sampler=optuna.samplers.RandomSampler(seed=5))
        study.optimize(objective, n_trials=25)
    stored = optuna.load_study(study_name="s", storage=url).get_trials()
    assert len(stored) == 25
    for trial in stored:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert space.fixed_candidate(trial.params) == json.loads(trial.user_attrs["candidate"])
    units = [t.params[k] for t in stored for k in t.params if k.endswith("_units")]
    assert units and all(isinstance(u, str) for u in units)


def test_tpe_multivariate_group_runs_on_default_without_warnings():
    space = search_spaces.load("default")

    def objective(trial):
        candidate = space.sample(trial)
        arch, train = candidate["architecture"], candidate["train"]
        width = sum(arch.get("expert_units", arch.get("bottom_units", [1])))
        return width * train["lr"], arch["dropout"] + train["batch_size"] / 2048

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(multivariate=True, group=True, seed=6,
                                             n_startup_trials=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
        study.optimize(objective, n_trials=30)
    assert len([t for t in study.trials if t.state.is_finished()]) == 30
    assert study.best_trials
    for trial in study.trials:
        assert space.fixed_candidate(trial.params) == space.sample(
            optuna.trial.FixedTrial(trial.params))


def test_fixed_candidate_rejects_bad_params():
    space = search_spaces.load(search_spaces.read_yaml(ISSUE_EXAMPLE))
    good = {"topology": "ple", "ple/levels": 2, "ple/shared_experts": 2, "ple/task_experts": 1,
            "weighting": "equal", "optimizer/lr": 0.001, "optimizer/batch_size": 512}
    assert space.fixed_candidate(good)["architecture"]["levels"] == 2
    with pytest.raises(SearchSpaceError) as info:
        space.fixed_candidate({**good, "ple/levels": 9, "mmoe/experts": 3})
    assert info.value.errors == [
        ("ple/levels", "9 is outside [1, 3]"),
        ("mmoe/experts", "not a parameter of this space (for the chosen branches)")]
    missing = dict(good)
    del missing["optimizer/lr"]
    with pytest.raises(SearchSpaceError, match="optimizer/lr"):
        space.fixed_candidate(missing)
    with pytest.raises(SearchSpaceError, match="'64-64' not in"):
        space.fixed_candidate({**good, "topology": "mmoe", "mmoe/experts": 2,
                               "mmoe/expert_units": "64-64"})


def test_fixed_weights_are_searched_and_checked_against_tasks(tasks):
    space = search_spaces.load({
        "topology": {"choose": {"mmoe": {}}},
        "weighting": {"choose": {"fixed": {"click": 1.0, "watch": {"float": [0.1, 1.0]}}}},
    })
    assert set(space.distributions()) == {"fixed/watch"}
    candidate = space.fixed_candidate({"fixed/watch": 0.5})
    assert candidate["weighting"] == {"name": "fixed",
                                      "params": {"weights": {"click": 1.0, "watch": 0.5}}}
    space.check_tasks(["click", "watch"])
    build_weighting(Candidate.model_validate(candidate).weighting, tasks)
    with pytest.raises(SearchSpaceError) as info:
        space.check_tasks(["click", "buy"])
    assert info.value.errors == [
        ("weighting.choose.fixed.watch", "unknown task 'watch'; the job's tasks: "
                                         "['click', 'buy']"),
        ("weighting.choose.fixed", "no weight for task(s) ['buy']: name every task")]
    search_spaces.load("default").check_tasks(["anything"])  # no fixed branch: nothing to check


def test_every_weighting_parameter_is_accepted_by_its_strategy(tasks):
    """Weighting parameters come from each strategy's Params model; a document that sets every
    one of them produces params the strategy's own validation accepts."""
    choose = {"fixed": {"click": 1.0, "watch": 2.0}}
    for name in available_weightings():
        if name == "fixed":
            continue
        params = search_spaces.catalog.weighting_params(name)
        choose[name] = {key: spec.default for key, spec in params.items()}
    space = search_spaces.load({"topology": {"choose": {"mmoe": {}}},
                                "weighting": {"choose": choose}})
    assert sorted(space.weightings) == available_weightings()
    for name in space.weightings:
        candidate = Candidate.model_validate(space.fixed_candidate({"weighting": name}))
        build_weighting(candidate.weighting, tasks)


def test_catalog_covers_every_registered_topology():
    assert sorted(topology_tables()) == available_topologies()


def test_space_pickles_for_ray_workers():
    import pickle

    space = search_spaces.load("default")
    copy = pickle.loads(pickle.dumps(space))
    for trial, candidate in random_trials(space, 5, seed=8):
        assert copy.fixed_candidate(trial.params) == candidate
