"""Job spec validation: the documented YAML loads as written; bad input names its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from automtl.jobspec import (
    FileDatasetSpec,
    JobSpec,
    JobSpecError,
    SplitColumn,
    SyntheticDatasetSpec,
    UploadedDatasetSpec,
    load_job_spec,
)

DOC_YAML = """\
name: demo
dataset: {builtin: synthetic, rows: 20000, correlation: 0.5, binary: true, seed: 0}   # labels y1, y2
tasks:
  - {name: t1, label: y1, type: binary}          # metric defaults: auc (binary), mse (regression)
  - {name: t2, label: y2, type: binary, metric: auc}
objectives: [t1, t2]                             # task names, plus optional params / latency_ms
constraints: {params_max: 500000}
search_space: {preset: default}                  # or an inline DSL document
sampler: tpe
budget: {trials: 30, concurrency: 2, epochs: 3, time_limit_s: 3600}
resources: {cpus_per_trial: 1, gpus_per_trial: 0}
seed: 0
"""  # noqa: E501 - the issue's example, as written


def _doc(**overrides: object) -> dict:
    doc = {
        "name": "demo",
        "dataset": {"builtin": "synthetic", "rows": 2000},
        "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}],
        "objectives": ["t1", "t2"],
    }
    doc.update(overrides)
    return doc


def _paths(exc: pytest.ExceptionInfo[JobSpecError]) -> list[str]:
    return [path for path, _ in exc.value.errors]


def test_documented_yaml_loads_as_written(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(DOC_YAML)
    spec = load_job_spec(path)
    assert isinstance(spec.dataset, SyntheticDatasetSpec)
    assert spec.dataset.rows == 20000 and spec.dataset.correlation == 0.5
    assert [t.metric for t in spec.tasks] == ["auc", "auc"]
    assert [(o.name, o.direction) for o in spec.objective_list()] == [
        ("t1", "maximize"), ("t2", "maximize")]
    assert spec.constraints.params_max == 500000
    assert spec.budget.trials == 30 and spec.budget.concurrency == 2
    assert spec.budget.epochs == 3 and spec.budget.time_limit_s == 3600
    assert spec.resources.gpus_per_trial == 0
    assert spec.study_name == "automtl-demo"
    # The same text as a string and the same document as a dict give the same spec.
    assert load_job_spec(DOC_YAML) == spec


def test_cost_objectives_are_minimised_and_task_metric_sets_direction() -> None:
    spec = load_job_spec(_doc(
        tasks=[{"name": "t1", "label": "y1", "metric": "logloss"},
               {"name": "t2", "label": "y2", "type": "regression", "metric": "r2"}],
        objectives=["t1", "t2", "params", "latency_ms"]))
    assert [(o.name, o.direction) for o in spec.objective_list()] == [
        ("t1", "minimize"), ("t2", "maximize"), ("params", "minimize"),
        ("latency_ms", "minimize")]


def test_objectives_default_to_every_task() -> None:
    doc = _doc()
    del doc["objectives"]
    assert load_job_spec(doc).objectives == ["t1", "t2"]


def test_unknown_keys_are_errors_with_their_paths() -> None:
    with pytest.raises(JobSpecError) as exc:
        load_job_spec(_doc(colour="red", budget={"trials": 3, "patience": 2},
                           dataset={"builtin": "synthetic", "rowz": 10}))
    assert set(_paths(exc)) == {"colour", "budget.patience", "dataset.rowz"}


def test_bad_objectives_name_their_index() -> None:
    with pytest.raises(JobSpecError) as exc:
        load_job_spec(_doc(objectives=["t1", "ctr", "t1"]))
    errors = dict(exc.value.errors)
    assert "objectives[1]" in errors and "'ctr'" in errors["objectives[1]"]
    assert "params" in errors["objectives[1]"]  # the message lists the valid names
    assert "listed twice" in errors["objectives[2]"]


def test_unknown_sampler_lists_the_valid_ones() -> None:
    with pytest.raises(JobSpecError) as exc:
        load_job_spec(_doc(sampler="cmaes"))
    (path, message), = exc.value.errors
    assert path == "sampler" and "nsga2" in message


def test_mo_asha_coverage_fidelity_defaults_to_the_first_rung() -> None:
    from automtl.search.runner import make_scheduler

    spec = load_job_spec(_doc(scheduler={"name": "mo_asha"}))
    assert spec.scheduler.coverage == "first_rung"
    # the old spec (name, grace_epochs, reduction_factor) still loads; "full" is the old rule
    full = load_job_spec(_doc(scheduler={"name": "mo_asha", "grace_epochs": 1,
                                         "reduction_factor": 3, "coverage": "full"}))
    for job, first in ((spec, True), (full, False)):
        scheduler = make_scheduler(job)
        scheduler.start_coverage_trial("c")
        result = {"epoch": 1, "epochs_total": 9, **{m: 0.9 for m in scheduler.modes}}
        assert (scheduler.decide("c", result) == "STOP") is first
    # the field acts only on a new study's start-up trials: it leaves the fingerprint alone,
    # so a study made before it resumes
    from automtl.search.fingerprint import spec_identity

    assert spec_identity(spec)["scheduler"] == spec_identity(full)["scheduler"] == {
        "name": "mo_asha", "grace_epochs": 1, "reduction_factor": 3}
    with pytest.raises(JobSpecError) as exc:
        load_job_spec(_doc(scheduler={"name": "mo_asha", "coverage": "half"}))
    assert _paths(exc) == ["scheduler.coverage"]


def test_field_errors_keep_nested_paths() -> None:
    with pytest.raises(JobSpecError) as exc:
        load_job_spec(_doc(tasks=[{"name": "t1", "label": "y1", "metric": "mse"}],
                           budget={"trials": 0}, resources={"gpus_per_trial": 1.5},
                           objectives=["t1"]))
    paths = _paths(exc)
    assert "tasks[0].metric" in paths   # mse does not apply to a binary task (the field named
    # in the path, as over REST)
    assert "budget.trials" in paths
    assert "resources.gpus_per_trial" in paths


def test_task_list_errors_name_the_task_and_its_field() -> None:
    """Like a task's own field errors: tasks[i].name, tasks[i].product_of, not just tasks."""
    with pytest.raises(JobSpecError) as exc:
        load_job_spec(_doc(tasks=[{"name": "t1", "label": "y1"}, {"name": "t1", "label": "y2"},
                                  {"name": "t3", "label": "y2", "product_of": ["t1", "nope"]}],
                           objectives=["t1"]))
    errors = dict(exc.value.errors)
    assert set(errors) == {"tasks[1].name", "tasks[2].product_of"}
    assert "duplicate task name 't1' (also tasks[0])" == errors["tasks[1].name"]
    assert "unknown task 'nope'" in errors["tasks[2].product_of"]


def test_fractional_gpus_are_accepted() -> None:
    assert load_job_spec(_doc(resources={"gpus_per_trial": 0.25})).resources.gpus_per_trial \
        == 0.25


def test_search_space_errors_are_prefixed() -> None:
    with pytest.raises(JobSpecError) as exc:
        load_job_spec(_doc(search_space={"preset": "no-such-preset"}))
    assert _paths(exc) == ["search_space.preset"]
    with pytest.raises(JobSpecError) as exc:
        load_job_spec(_doc(search_space={"topology": {"choose": {"hydra": {}}}}))
    assert _paths(exc) == ["search_space.topology.choose.hydra"]


def test_dataset_kinds() -> None:
    spec = load_job_spec(_doc(dataset={
        "path": "data.csv", "features": {"numeric": ["a"], "categorical": ["b"]},
        "split": {"column": "fold"}}))
    assert isinstance(spec.dataset, FileDatasetSpec)
    assert isinstance(spec.dataset.split, SplitColumn)
    assert isinstance(load_job_spec(_doc(dataset={"id": "ds-1"})).dataset, UploadedDatasetSpec)
    with pytest.raises(JobSpecError) as exc:
        load_job_spec(_doc(dataset={"rows": 5}))
    assert _paths(exc) == ["dataset"]
    with pytest.raises(JobSpecError) as exc:
        load_job_spec(_doc(dataset={"path": "data.csv", "split": {"valid": 0.6, "test": 0.5}}))
    assert _paths(exc) == ["dataset.split"]


def test_failure_injection_is_not_part_of_a_job_spec() -> None:
    """Test-only failure injection lives in automtl.search.testing (passed by test code to
    run_search), never in the public spec: a spec asking for it is refused."""
    with pytest.raises(JobSpecError) as exc:
        load_job_spec(_doc(testing={"fail_topologies": ["mmoe"]}))
    assert _paths(exc) == ["testing"]
    assert "testing" not in JobSpec.model_json_schema()["properties"]


def test_the_search_space_is_compiled_once_when_the_spec_is_validated(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import search_spaces.loader

    calls: list[object] = []
    real = search_spaces.loader.load

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(search_spaces, "load", counting)
    spec = load_job_spec(_doc())
    assert len(calls) == 1
    assert spec.space is spec.space and load_job_spec(spec) is spec
    assert len(calls) == 1  # reading the space or reloading a JobSpec compiles nothing


def test_yaml_parse_errors_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(JobSpecError, match="not found"):
        load_job_spec(tmp_path / "missing.yaml")
    with pytest.raises(JobSpecError, match="cannot parse"):
        load_job_spec("name: [unclosed\n")
    with pytest.raises(JobSpecError, match="mapping"):
        load_job_spec("- just\n- a list\n")


def test_jobspec_round_trips_through_json() -> None:
    spec = load_job_spec(_doc(constraints={"params_max": 1000}))
    assert JobSpec.model_validate_json(spec.model_dump_json()) == spec


def test_a_data_error_is_placed_at_the_spec_path_of_what_it_names() -> None:
    from automtl.data import DataError
    from automtl.jobspec import data_error_path

    spec = load_job_spec(_doc(tasks=[{"name": "t1", "label": "y1"},
                                     {"name": "t2", "label": "y2", "weight": "w"}],
                              objectives=["t1"]))
    assert data_error_path(spec, DataError("x", column="y2", task="t2",
                                           task_field="type")) == "tasks[1].type"
    assert data_error_path(spec, DataError("x", column="w")) == "tasks[1]"
    assert data_error_path(spec, DataError("x", field="valid_fraction")) == \
        "dataset.split.valid"
    assert data_error_path(spec, DataError("x", field="domains.values")) == "domains.values"
    assert data_error_path(spec, DataError("x", field="tasks")) == "tasks"
    assert data_error_path(spec, DataError("x")) == "dataset"
    domains = load_job_spec({
        "name": "md", "dataset": {"builtin": "multi-domain", "rows": 300},
        "tasks": [{"name": "y1"}, {"name": "y2"}],
        "domains": {"column": "domain", "values": ["d0", "d1", "d2"]}})
    # a per-domain task's error is its base task's
    assert data_error_path(domains, DataError("x", column="y2", task="y2__d1",
                                              task_field="label")) == "tasks[1].label"


def test_a_class_outside_the_train_split_names_the_tasks_label() -> None:
    import pandas as pd

    from automtl.config import TaskSpec
    from automtl.data import DataError, TabularDataset

    frame = pd.DataFrame({"x": [float(i) for i in range(44)],
                          "seg": ["a", "b", "c"] * 12 + ["a", "b", "c", "z"] * 2,
                          "part": ["train"] * 36 + ["valid"] * 4 + ["test"] * 4})
    with pytest.raises(DataError) as caught:
        TabularDataset(frame, [TaskSpec(name="seg", type="multiclass")], split_column="part")
    # the label column defaulted to the task's name: the field the user wrote is `name`
    assert (caught.value.task, caught.value.task_field) == ("seg", "name")
    assert "'z'" in str(caught.value)
    with pytest.raises(DataError) as caught:
        TabularDataset(frame, [TaskSpec(name="segment", label="seg", type="multiclass")],
                       split_column="part")
    assert (caught.value.task, caught.value.task_field) == ("segment", "label")


def test_a_missing_label_column_names_the_field_the_spec_used() -> None:
    import pandas as pd

    from automtl.config import TaskSpec
    from automtl.data import DataError, TabularDataset

    frame = pd.DataFrame({"x": [0.0, 1.0] * 10, "y": [0, 1] * 10})
    for task, field in ((TaskSpec(name="missing"), "name"),
                        (TaskSpec(name="ctr", label="clicked"), "label")):
        with pytest.raises(DataError) as caught:
            TabularDataset(frame, [TaskSpec(name="y"), task])
        assert caught.value.task_field == field


def test_a_budget_the_mo_asha_coverage_would_use_up_is_refused_naming_the_minimum() -> None:
    """With MO-ASHA the coverage start-up trials stop at the first rung: a budget of no more
    than them cannot finish any trial (a new user's `trials: 12` gave an empty front)."""
    from automtl.search.coverage import coverage_params

    spec = load_job_spec(_doc(scheduler={"name": "mo_asha"}))
    coverage = len(coverage_params(spec.space, spec.seed))
    assert spec.space.coverage_size == coverage > 1
    with pytest.raises(JobSpecError) as exc:
        load_job_spec(_doc(scheduler={"name": "mo_asha"}, budget={"trials": coverage}))
    assert _paths(exc) == ["budget.trials"]
    assert f"use at least {coverage + 1}" in str(exc.value)
    assert load_job_spec(_doc(scheduler={"name": "mo_asha"}, budget={"trials": coverage + 1}))
    # each way out the message names is accepted
    for fix in ({"scheduler": {"name": "mo_asha", "coverage": "full"}},
                {"scheduler": {"name": "none"}},
                {"scheduler": {"name": "mo_asha"}, "budget": {"trials": coverage, "epochs": 1}}):
        load_job_spec(_doc(**{"budget": {"trials": coverage}, **fix}))


@pytest.mark.parametrize("space", [
    {"preset": "default"}, {"preset": "moe"}, {"preset": "weighting"},
    {"topology": {"choose": {"mmoe": {}}}},
    {"topology": {"choose": {"single_task": {}, "mmoe": {}}}},
    {"topology": {"choose": {"mmoe": {}}}, "weighting": {"choose": {"equal": {}, "dwa": {}}}},
])
def test_coverage_size_is_the_count_of_coverage_trials(space: dict) -> None:
    from automtl.search.coverage import coverage_params

    spec = load_job_spec(_doc(search_space=space))
    assert spec.space.coverage_size == len(coverage_params(spec.space, 0))


def test_the_readme_states_the_default_presets_coverage_count() -> None:
    """README.md's "With the `default` preset ... that is 1 + N trials" is what runs."""
    import re
    from pathlib import Path

    text = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    stated = re.search(r"With the `default` preset, in a job without `sequence` or `domains`, "
                       r"that is 1 \+ (\d+) trials", text)
    assert stated, "README no longer states the default preset's coverage count"
    spec = load_job_spec(_doc())
    assert spec.space.coverage_size == 1 + int(stated.group(1))
    assert f"use at least {spec.space.coverage_size + 1}" in text


def test_a_mistyped_key_is_named_with_the_closest_valid_one() -> None:
    """New-user pass item 11: ``budget.epoch: Extra inputs are not permitted`` said nothing of
    ``epochs``; the same for a task's key, a top-level key and a topology name."""
    doc = _doc(budget={"trials": 3, "epoch": 2}, seed=0, sed=1,
               tasks=[{"name": "t1", "label": "y1"},
                      {"name": "t2", "label": "y2", "typ": "binary"}],
               search_space={"topology": {"choose": {"mmoee": {}}}})
    with pytest.raises(JobSpecError) as exc:
        load_job_spec(doc)
    errors = dict(exc.value.errors)
    assert errors["budget.epoch"] == "unknown field; did you mean 'epochs'?"
    assert errors["tasks[1].typ"] == "unknown field; did you mean 'type'?"
    assert errors["sed"] == "unknown field; did you mean 'seed'?"
    # the cross-field checks pydantic skips once a field fails run too: all at once
    assert "unknown topology 'mmoee' (did you mean 'mmoe'?)" in \
        errors["search_space.topology.choose.mmoee"]


def test_a_key_with_no_close_match_lists_the_valid_ones_and_objectives_are_checked_too() -> None:
    with pytest.raises(JobSpecError) as exc:
        load_job_spec(_doc(budget={"trials": 3, "zzz": 1}, objectives=["t1", "cvr"]))
    errors = dict(exc.value.errors)
    assert errors["budget.zzz"].startswith("unknown field; valid fields: ")
    assert "epochs" in errors["budget.zzz"] and "trials" in errors["budget.zzz"]
    assert errors["objectives[1]"].startswith("unknown objective 'cvr'; valid: ['t1', 't2'")


def test_a_mistyped_objective_gets_a_did_you_mean() -> None:
    """objectives: [t1, t22] listed the valid names without the one that was meant; also in
    export's --prefer."""
    from automtl.export.choice import choose_trial
    from automtl.export.errors import PreferenceError

    with pytest.raises(JobSpecError) as exc:
        load_job_spec(_doc(objectives=["t1", "t22"]))
    assert dict(exc.value.errors)["objectives[1]"].startswith(
        "unknown objective 't22' (did you mean 't2'?); valid: ['t1', 't2'")
    spec = load_job_spec(_doc())
    with pytest.raises(PreferenceError, match=r"\['t22'\] \(did you mean 't2'\?\); valid"):
        choose_trial([(0, {"t1": 0.5, "t2": 0.5})], spec.objective_list(), {"t22": 1.0})
