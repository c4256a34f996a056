"""Issue 19 item 6: constraints known before training are checked at sampling; an infeasible
candidate is never trained, Optuna is told, and the search says how many trials met the bound."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState
from ray.tune.search import Searcher

import search_spaces
from automtl.config import TaskSpec
from automtl.data import TabularDataset, make_synthetic
from automtl.jobspec import load_job_spec
from automtl.search.feasibility import (
    ATTR_INFEASIBLE,
    ATTR_STATIC_PARAMS,
    constraint_summary,
    static_params,
)
from automtl.search.runner import _make_searcher
from automtl.search.trainable import CONFIG_KEY
from automtl.trial_record import outcome_from_trial, stored_attrs


def _setup(params_max: int):
    frame = make_synthetic(rows=300, features=6, binary=True)
    tasks = [TaskSpec(name="y1"), TaskSpec(name="y2")]
    dataset = TabularDataset(frame, tasks)
    spec = load_job_spec({
        "name": "feasible", "dataset": {"builtin": "synthetic", "rows": 300, "features": 6},
        "tasks": [{"name": "y1"}, {"name": "y2"}], "constraints": {"params_max": params_max},
        "search_space": {"topology": {"choose": {"mmoe": {"experts": {"int": [2, 8]}}}}},
        "sampler": "random", "budget": {"trials": 3}})
    space = search_spaces.load(spec.search_space)
    storage = optuna.storages.InMemoryStorage()
    searcher = _make_searcher(space, spec, optuna.samplers.RandomSampler(seed=0), "s", storage,
                              3, lambda _: None, inputs=dataset.schema)
    return searcher, dataset, spec


def test_candidates_over_params_max_are_refused_at_sampling_and_the_search_stops() -> None:
    searcher, dataset, spec = _setup(params_max=500)
    answers = [searcher.suggest(f"t{i}") for i in range(10)]
    assert answers[:-1] == [None] * 9 and answers[-1] == Searcher.FINISHED
    assert searcher.stop_reason == "infeasible" and searcher.live_trials() == 0
    trials = searcher.study.get_trials()
    assert len(trials) == 10 and all(t.state == TrialState.PRUNED for t in trials)
    smallest = min(t.user_attrs[ATTR_STATIC_PARAMS] for t in trials)
    for trial in trials:
        params = trial.user_attrs[ATTR_STATIC_PARAMS]
        assert trial.constraints == {"params_max": params - 500}
        assert stored_attrs(trial)[ATTR_INFEASIBLE] == (f"{params:,} parameters > params_max 500: "
                                                     "not trained")
    assert constraint_summary(searcher.study, spec.constraints) == \
        f"0 of 10 trials meet params_max 500 (smallest {smallest:,})"
    # PRUNED here means refused at sampling, not stopped by MO-ASHA: no budget used, and the
    # stored record says why (no pruned_epoch)
    assert searcher.complete_trials == 0
    names = [o.name for o in spec.objective_list()]
    outcome = outcome_from_trial(trials[0], names)
    assert outcome.infeasible == stored_attrs(trials[0])[ATTR_INFEASIBLE]
    assert outcome.pruned_epoch is None


def test_a_feasible_candidate_is_suggested_with_its_counted_parameters() -> None:
    searcher, dataset, spec = _setup(params_max=10**7)
    answer = searcher.suggest("t0")
    assert isinstance(answer, dict) and searcher.stop_reason is None
    trial = searcher.study.get_trials()[0]
    assert trial.state == TrialState.RUNNING
    counted = static_params(answer[CONFIG_KEY]["candidate"], dataset.schema, spec.tasks)
    assert trial.user_attrs[ATTR_STATIC_PARAMS] == counted > 0
    from automtl.config import Candidate, ModelConfig
    from automtl.models import build_model

    candidate = Candidate.model_validate(answer[CONFIG_KEY]["candidate"])
    model = build_model(ModelConfig.from_parts(candidate.architecture, dataset.schema,
                                               spec.tasks))
    assert model.num_parameters() == counted  # the meta-device count is the real one


def test_no_params_max_means_no_summary() -> None:
    searcher, _, spec = _setup(params_max=10**7)
    searcher.suggest("t0")
    assert constraint_summary(searcher.study, spec.constraints) is None  # RUNNING: not counted
    assert constraint_summary(searcher.study, spec.constraints.model_copy(
        update={"params_max": None})) is None


COUNT_IN_A_FRESH_PROCESS = """
import sys
from automtl.config import Candidate, ModelConfig, TaskSpec
from automtl.data import TabularDataset, make_synthetic
from automtl.models import build_model
from automtl.models.registry import available_topologies
from automtl.search.feasibility import static_params

frame = make_synthetic(rows=300, features=6, binary=True, categorical=3, buckets=5)
tasks = [TaskSpec(name="y1"), TaskSpec(name="y2")]
schema = TabularDataset(frame, tasks).schema
# aitm needs a task sequence, star a domain column
names = [n for n in available_topologies() if n not in ("aitm", "star")]
candidates = [{"architecture": {"topology": name}} for name in names]
counted = [static_params(c, schema, tasks) for c in candidates]
imported = [m for m in ("torch._dynamo", "sympy") if m in sys.modules]
real = [build_model(ModelConfig.from_parts(Candidate.model_validate(c).architecture, schema,
                                           tasks)).num_parameters() for c in candidates]
print(names, counted, real, imported, len(schema.categorical), sep="|")
"""


def test_counting_on_the_meta_device_imports_no_compiler_and_stays_exact() -> None:
    """Counting every topology on the meta device imports neither torch._dynamo nor sympy
    (seconds of the driver while a worker slot waits on its suggest): SNR's gates and the
    embedding tables are drawn with normal_, which torch runs on the meta device through a
    reference that imports torch._dynamo, so the count skips those draws; the Python meta
    kernel of repeat imports sympy, which Sluice's initial beta avoids. Each count still
    equals the real model's."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", COUNT_IN_A_FRESH_PROCESS], check=True,
                         capture_output=True, text=True).stdout.strip().split("|")
    names, counted, real, imported, categorical = (eval(part) for part in out)  # noqa: S307
    assert categorical == 3
    assert {"snr_trans", "sluice", "mmoe", "ple"} <= set(names)
    assert counted == real and all(n > 0 for n in counted)
    assert imported == []
