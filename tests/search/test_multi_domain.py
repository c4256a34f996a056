"""Multi-domain jobs (``domains``): spec and data validation, the per-domain tasks, a trial of a
multi-domain job end to end (star and a topology that does not read the domain), per-domain
metrics in the stored results and the report, and the multi-domain generator's recipe."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import create_trial

from automtl.config import DomainSpec, ModelConfig, TaskSpec
from automtl.data import DataError, TabularDataset, make_multi_domain, multi_domain_spec
from automtl.domains import add_domain_means, expand_tasks
from automtl.jobspec import JobSpecError, load_job_spec
from automtl.report.html import build_report_html
from automtl.report.pareto import front_rows, pareto_front
from automtl.search.datasets import load_dataset
from automtl.search.trainable import KEY_EPOCH_LOG, TrialContext, run_trial, unflatten_metrics

DOMAINS = {"column": "domain", "values": ["d0", "d1", "d2"]}


def spec_document(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": "md", "dataset": {"builtin": "multi-domain", "rows": 1500, "features": 6},
        "tasks": [{"name": "y1"}, {"name": "y2", "metric": "logloss"}],
        "domains": DOMAINS, "search_space": {"preset": "multi_domain"},
        "budget": {"epochs": 2}}
    document.update(overrides)
    return document


def errors_of(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(JobSpecError) as caught:
        load_job_spec(document)
    return dict(caught.value.errors)


# --- the spec -----------------------------------------------------------------------------------

def test_spec_expands_each_task_per_domain() -> None:
    spec = load_job_spec(spec_document(objectives=["y1", "y2__d2", "params"]))
    names = [t.name for t in spec.model_tasks]
    assert names == ["y1__d0", "y1__d1", "y1__d2", "y2__d0", "y2__d1", "y2__d2"]
    assert all(t.label == t.name[:2] and t.domain == t.name[-2:] for t in spec.model_tasks)
    assert spec.model_tasks[3].metric == "logloss"
    assert [o.name for o in spec.objective_list()] == ["y1", "y2__d2", "params"]
    assert spec.objective_list()[1].direction == "minimize"
    assert spec.objective_model_tasks() == ["y1__d0", "y1__d1", "y1__d2", "y2__d2"]
    plain = load_job_spec(spec_document(domains=None, search_space={"preset": "default"}))
    assert plain.model_tasks == plain.tasks


def test_esmm_products_pair_the_same_domains_factors() -> None:
    tasks = [TaskSpec(name="ctr"), TaskSpec(name="cvr"),
             TaskSpec(name="ctcvr", product_of=["ctr", "cvr"])]
    expanded = expand_tasks(tasks, DomainSpec(column="s", values=["a", "b"]))
    assert expanded[5].name == "ctcvr__b" and expanded[5].product_of == ["ctr__b", "cvr__b"]


@pytest.mark.parametrize("domains, path, fragment", [
    ({"column": "domain", "values": []}, "domains.values", "at least 1"),
    ({"column": "domain", "values": ["home page"]}, "domains.values", "letters, digits"),
    ({"column": "domain", "values": ["a", "a"]}, "domains.values", "duplicate"),
    ({"column": "domain", "values": [f"v{i}" for i in range(33)]}, "domains.values",
     "at most 32"),
    ({"column": "domain"}, "domains.values", "required"),
    ({"column": "y1", "values": ["d0", "d1", "d2"]}, "domains.column", "label or weight"),
    ({"column": "scene", "values": ["d0", "d1", "d2"]}, "domains", "the multi-domain "
                                                                   "dataset's domains"),
])
def test_bad_domains_name_the_field(domains: dict[str, Any], path: str, fragment: str) -> None:
    errors = errors_of(spec_document(domains=domains))
    assert path in errors and fragment in errors[path], errors


def test_without_domains_the_preset_drops_star_and_tasks_cannot_set_a_domain() -> None:
    plain = load_job_spec(spec_document(domains=None, dataset={"builtin": "synthetic",
                                                               "rows": 300}))
    assert plain.space.topologies == ["shared_bottom", "mmoe", "ple"]
    assert plain.space.left_out == ["star"]
    errors = errors_of(spec_document(domains=None,
                                     search_space={"topology": {"choose": {"star": {}}}}))
    assert errors == {"search_space.topology.choose.star":
                      "star needs 'domains' in the job spec; set it or leave star out"}
    errors = errors_of(spec_document(tasks=[{"name": "y1", "domain": "d0"}]))
    assert "set by the job's `domains`" in errors["tasks[0].domain"]
    errors = errors_of(spec_document(objectives=["y1__d7"]))
    assert "unknown objective 'y1__d7'" in errors["objectives[0]"]


# --- the data -------------------------------------------------------------------------------------

def frame_with(column: Any) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x0": rng.normal(size=60),
                          "y": np.tile([0.0, 0.0, 1.0, 1.0], 15)})  # both classes per domain
    frame["scene"] = column
    return frame


@pytest.mark.parametrize("column, values, field, fragment", [
    (["a", "b"] * 30, ["a", "b"], None, None),
    ([1, 2] * 30, ["1", "2"], None, None),  # integer codes
    (["a", "b"] * 30, ["a", "b", "c"], "domains.values", "occur in no row"),
    (["a", "b", "c"] * 20, ["a", "b"], "domains.values", "not listed"),
    ([0.5, 1.5] * 30, ["a"], "domains.column", "fractional"),
    (["a", None] * 30, ["a"], "domains.column", "without a domain value"),
    ([f"v{i % 40}" for i in range(60)], ["a"], "domains.column", "40 distinct values"),
])
def test_domain_column_checks(column: list[Any], values: list[str], field: str | None,
                              fragment: str | None) -> None:
    frame = frame_with(column)
    domains = DomainSpec(column="scene", values=values)
    tasks = [TaskSpec(name="y")]
    if field is None:
        data = TabularDataset(frame, tasks, domains=domains, valid_fraction=0.3,
                              test_fraction=0.0, stratify=False)
        assert "scene" in data.schema.categorical_names and data.schema.domain == domains
        for j, value in enumerate(values):  # each task's labelled rows are its domain's
            rows = np.asarray(frame["scene"].astype(str).iloc[data.split_rows["train"]])
            assert data.train.mask[:, j].numpy().tolist() == (rows == value).tolist()
        return
    with pytest.raises(DataError) as caught:
        TabularDataset(frame, tasks, domains=domains, valid_fraction=0.3, test_fraction=0.0)
    assert caught.value.field == field and fragment in str(caught.value)


def test_missing_domain_column_and_numeric_listing_are_refused() -> None:
    frame = frame_with(["a", "b"] * 30)
    with pytest.raises(DataError, match="not in the data") as caught:
        TabularDataset(frame, [TaskSpec(name="y")],
                       domains=DomainSpec(column="site", values=["a"]))
    assert caught.value.field == "domains.column"
    with pytest.raises(DataError, match="listed as a numeric feature"):
        TabularDataset(frame, [TaskSpec(name="y")], numeric=["x0", "scene"],
                       domains=DomainSpec(column="scene", values=["a", "b"]))


# --- the generator ------------------------------------------------------------------------------

def _domain_directions(frame: pd.DataFrame, label: str) -> dict[str, np.ndarray]:
    """Per domain, the unit least-squares coefficients of the label on x: without the sine
    terms the label is linear in x, so they are the domain's weight direction."""
    columns = [c for c in frame.columns if c.startswith("x")]
    out = {}
    for value, rows in frame.groupby("domain"):
        coef, *_ = np.linalg.lstsq(rows[columns].to_numpy(), rows[label].to_numpy(), rcond=None)
        out[str(value)] = coef / np.linalg.norm(coef)
    return out


def test_generator_recipe() -> None:
    frame = make_multi_domain(rows=30000, features=8, binary=False, seed=1)
    shares = frame["domain"].value_counts(normalize=True)
    assert list(frame.columns) == [*(f"x{i}" for i in range(8)), "domain", "y1", "y2"]
    assert shares["d2"] == pytest.approx(0.10, abs=0.01)  # the small domain
    assert shares["d0"] == pytest.approx(0.45, abs=0.015)
    linear = {"rows": 30000, "features": 8, "binary": False, "seed": 1, "sine_terms": 0}
    shifted = _domain_directions(make_multi_domain(**linear), "y1")
    same = _domain_directions(make_multi_domain(**linear, shift=0.0), "y1")
    assert float(same["d0"] @ same["d2"]) > 0.999  # shift 0: one label function
    for a, b in (("d0", "d1"), ("d0", "d2"), ("d1", "d2")):
        # shift 0.5: each domain's weights keep cos ~ 0.87 with the shared ones, so two
        # domains' label functions are related but differ
        assert 0.5 < float(shifted[a] @ shifted[b]) < 0.95
    binary = make_multi_domain(rows=5000, features=8, seed=1)
    assert set(np.unique(binary[["y1", "y2"]].to_numpy())) == {0.0, 1.0}
    rates = binary.groupby("domain")["y1"].mean()
    assert rates.max() - rates.min() > 0.05  # the offsets give different positive rates
    with pytest.raises(DataError) as caught:
        make_multi_domain(shift=1.5)
    assert caught.value.field == "shift"


# --- a trial end to end, and the per-domain results ---------------------------------------------

def context_for(spec_doc: dict[str, Any], tmp_path: Path) -> TrialContext:
    spec = load_job_spec(spec_doc)
    data = load_dataset(spec.dataset, spec.tasks, spec.seed, domains=spec.domains)
    return TrialContext(spec=spec, inputs=data.schema, train=data.train, valid=data.valid,
                        test=data.test, artifact_root=str(tmp_path))


@pytest.mark.parametrize("architecture", [
    {"topology": "star", "star_units": [8], "aux_units": [4], "tower_units": [4],
     "embedding_dim": 3},
    {"topology": "mmoe", "num_shared_experts": 2, "expert_units": [8], "tower_units": [4],
     "embedding_dim": 3},
])
def test_a_multi_domain_trial_reports_per_domain_metrics(architecture: dict[str, Any],
                                                         tmp_path: Path) -> None:
    context = context_for(spec_document(objectives=["y1", "y2", "params"]), tmp_path)
    candidate = {"architecture": architecture, "weighting": {"name": "equal"},
                 "train": {"lr": 0.01, "batch_size": 128, "epochs": 2}}
    reports: list[dict[str, Any]] = []
    result = run_trial(candidate, 0, context, reports.append)
    nested = unflatten_metrics(result)
    per_domain = [f"{task}__{d}" for task in ("y1", "y2") for d in ("d0", "d1", "d2")]
    assert set(nested["valid"]) == {"y1", "y2", *per_domain} == set(nested["test"])
    aucs = [nested["valid"][f"y1__{d}"]["auc"] for d in ("d0", "d1", "d2")]
    assert all(0.0 <= a <= 1.0 for a in aucs), aucs
    assert aucs[0] > 0.55 and aucs[1] > 0.55, aucs  # the large domains learn in 2 epochs
    assert result["objective/y1"] == pytest.approx(sum(aucs) / 3)
    assert result["objective/y2"] == pytest.approx(
        np.mean([nested["valid"][f"y2__{d}"]["logloss"] for d in ("d0", "d1", "d2")]))
    # no scheduler: nothing is reported before the end, and the final result carries every
    # epoch's per-domain metrics (the learning curve)
    assert reports == []
    epochs = result[KEY_EPOCH_LOG]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert all(math.isfinite(e[f"valid/y1__{d}/auc"]) for e in epochs for d in ("d0", "d1"))
    saved = json.loads((Path(result["artifact"]) / "model_config.json").read_text())
    config = ModelConfig.model_validate(saved)
    assert config.inputs.domain == DomainSpec(**DOMAINS)
    assert [t.name for t in config.tasks] == per_domain


def test_domain_means_leave_out_undefined_domains() -> None:
    tasks = [TaskSpec(name="y")]
    domains = DomainSpec(column="s", values=["a", "b", "c"])
    metrics = {"y__a": {"auc": 0.6}, "y__b": {"auc": math.nan}, "y__c": {"auc": 0.8}}
    assert add_domain_means(metrics, tasks, domains)["y"]["auc"] == pytest.approx(0.7)
    metrics["y__a"]["auc"] = metrics["y__c"]["auc"] = math.nan
    assert math.isnan(add_domain_means(metrics, tasks, domains)["y"]["auc"])


def test_front_and_report_show_per_domain_metrics() -> None:
    spec = load_job_spec(spec_document())
    study = optuna.create_study(directions=["maximize", "minimize"])
    valid = {f"{t}__{d}": {"auc": 0.6 + 0.1 * k, "logloss": 0.5}
             for t in ("y1", "y2") for k, d in enumerate(("d0", "d1", "d2"))}
    valid["y1"] = {"auc": 0.7}
    study.add_trial(create_trial(
        values=[0.7, 0.5], params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
        user_attrs={"automtl:candidate": {"architecture": {"topology": "star"},
                                          "weighting": {"name": "equal"}},
                    "automtl:valid": valid, "automtl:test": {"y1__d2": {"auc": 0.61}}}))
    front = pareto_front(study, spec)
    assert [c["name"] for c in front["domains"]] == list(valid)[:6]
    row = front_rows(front)[0]
    assert row["valid_y1__d2_auc"] == pytest.approx(0.8)
    assert row["valid_y2__d0_logloss"] == pytest.approx(0.5)
    page = build_report_html(front, [], tasks=[{"name": "y1", "metric": "auc",
                                                "direction": "maximize"}])
    assert "Per-domain metrics" in page and 'id="domain-table"' in page
    assert "y1 auc @ d2" in page and "0.8 (0.61)" in page


def test_generator_and_spec_agree() -> None:
    assert multi_domain_spec() == DomainSpec(**DOMAINS)


@pytest.mark.slow
def test_a_multi_domain_search_stores_per_domain_metrics(local_ray: None,
                                                         tmp_path: Path) -> None:
    """Through Ray: star and shared_bottom trials of a multi-domain job; the study's front
    carries the per-domain columns and every front trial's per-domain validation metrics."""
    from automtl.search import run_search

    space = {"topology": {"choose": {"star": {"star_units": [8], "aux_units": [4]},
                                     "shared_bottom": {"bottom_units": [8]}}},
             "architecture": {"tower_units": [4], "embedding_dim": 3},
             "optimizer": {"lr": 0.01, "batch_size": 256, "epochs": 1}}
    spec = spec_document(search_space=space, sampler="random",
                         budget={"trials": 2, "concurrency": 1})
    result = run_search(spec, artifact_dir=tmp_path)
    assert result.complete == 2 and result.failed == 0
    front = result.front
    assert [c["name"] for c in front["domains"]][:3] == ["y1__d0", "y1__d1", "y1__d2"]
    for entry in front["trials"]:
        assert {"y1", "y1__d0", "y1__d2", "y2__d1"} <= set(entry["valid"])
        domain_aucs = [entry["valid"][f"y1__{d}"]["auc"] for d in ("d0", "d1", "d2")]
        assert entry["values"]["y1"] == pytest.approx(sum(domain_aucs) / 3)


def test_domains_are_part_of_a_studys_identity_only_when_set() -> None:
    """A resumed study refuses a changed `domains`; a spec without it keeps the fingerprint it
    had before the field existed."""
    from automtl.search.fingerprint import changed_fields, spec_identity

    plain = spec_identity(load_job_spec(spec_document(domains=None,
                                                      search_space={"preset": "default"})))
    assert "domains" not in plain
    three = spec_identity(load_job_spec(spec_document()))
    two = spec_identity(load_job_spec(spec_document(
        domains={"column": "domain", "values": ["d0", "d1"]},
        dataset={"builtin": "multi-domain", "rows": 1500, "features": 6,
                 "shares": [0.5, 0.5]})))
    assert three["domains"] == DOMAINS
    assert "domains.values" in " ".join(changed_fields(three, two))
