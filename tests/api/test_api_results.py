"""A real tiny search, run once for the module by the worker in this process, read back through
the API: job progress, trials, the Pareto front (JSON and CSV, checked against the Optuna study)
and the report page (also rendered in headless Chromium when it is installed)."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from api_support import create_token, make_settings, tiny_csv, tiny_spec
from fastapi.testclient import TestClient

from automtl_api.main import create_app
from automtl_api.worker import Worker
from automtl_storage import optuna_storage, upgrade

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """A 4-trial job (single-task baseline vs MMoE) that the worker ran to completion."""
    root = tmp_path_factory.mktemp("results")
    settings = make_settings(root)
    upgrade(settings.resolved_database_url)
    headers = create_token(settings, "alice")
    with TestClient(create_app(settings)) as client:
        dataset = client.post("/api/v1/datasets", headers=headers,
                              files={"file": ("tiny.csv", tiny_csv())}).json()
        job = client.post("/api/v1/jobs", headers=headers,
                          json=tiny_spec({"id": dataset["id"]})).json()
        worker = Worker(settings)
        try:
            assert worker.run_once() == job["id"]
            assert worker.run_once() is None  # the queue is empty now
        finally:
            worker.close()
        study = optuna.load_study(study_name=job["study_name"],
                                  storage=optuna_storage(settings.resolved_database_url))
        yield SimpleNamespace(client=client, headers=headers, job_id=job["id"], study=study,
                              root=root, settings=settings)


def _get(ns: SimpleNamespace, suffix: str) -> Any:
    response = ns.client.get(f"/api/v1/jobs/{ns.job_id}{suffix}", headers=ns.headers)
    assert response.status_code == 200, response.text
    return response


def test_the_job_succeeded_with_its_budget_of_trials(finished):
    job = _get(finished, "").json()
    assert job["status"] == "succeeded" and job["error"] is None and job["attempts"] == 1
    progress = job["progress"]
    assert progress["finished"] == progress["budget"] == 4
    assert progress["failed"] == 0 and progress["running"] == 0
    front = _get(finished, "/pareto").json()
    assert progress["front_size"] == len(front["trials"]) > 0
    assert progress["hypervolume"] == pytest.approx(front["hypervolume"])
    assert progress["elapsed_s"] > 0 and job["finished_at"] >= job["started_at"]


def test_trials_carry_parameters_metrics_costs_and_durations(finished):
    page = _get(finished, "/trials").json()
    trials = page["items"]
    assert [t["number"] for t in trials] == [0, 1, 2, 3] and not page["has_more"]
    study_trials = {t.number: t for t in finished.study.trials}
    for trial in trials:
        assert trial["state"] == "complete" and trial["error"] is None
        assert trial["params"] == study_trials[trial["number"]].params
        assert trial["config"]["architecture"]["topology"] in ("single_task", "mmoe")
        assert set(trial["valid_metrics"]) == {"y1", "y2"}
        assert set(trial["test_metrics"]) == {"y1", "y2"}
        assert trial["objectives"] == dict(zip(["y1", "y2"], study_trials[trial["number"]].values,
                                               strict=True))
        assert trial["num_params"] > 0 and trial["latency_ms"] > 0
        assert 0 < trial["train_seconds"] <= trial["total_seconds"]
        # shown relative to the artifact directory, never as an absolute server path
        assert not Path(trial["artifact_path"]).is_absolute()
        assert Path(finished.settings.resolved_artifact_dir, trial["artifact_path"],
                    "model.pt").is_file()
        assert trial["finished_at"] is not None
    front = {t.number for t in finished.study.best_trials}
    assert {t["number"] for t in trials if t["on_front"]} == front
    assert len(_get(finished, "/trials?state=complete").json()["items"]) == 4
    assert _get(finished, "/trials?state=failed").json()["items"] == []
    first = _get(finished, "/trials?limit=3").json()
    assert len(first["items"]) == 3 and first["has_more"]
    assert [t["number"] for t in _get(finished, "/trials?limit=3&offset=3").json()["items"]] == [3]


def test_gated_trials_store_their_expert_utilisation(finished):
    trials = _get(finished, "/trials").json()["items"]
    mmoe = [t for t in trials if t["config"]["architecture"]["topology"] == "mmoe"]
    assert mmoe, "the seeded random sampler draws MMoE"
    for trial in mmoe:
        usage = trial["gate_utilisation"]
        experts = trial["config"]["architecture"]["params"]["num_shared_experts"]
        assert set(usage) == {"y1", "y2"}
        assert all(len(w) == experts and sum(w) == pytest.approx(1.0, abs=1e-4)
                   for w in usage.values())
    single = [t for t in trials if t["config"]["architecture"]["topology"] == "single_task"]
    assert all(not t["gate_utilisation"] for t in single)


def test_the_front_is_the_studys_best_trials(finished):
    front = _get(finished, "/pareto").json()
    best = sorted(finished.study.best_trials, key=lambda t: t.number)
    assert [t["number"] for t in front["trials"]] == [t.number for t in best]
    for entry, trial in zip(front["trials"], best, strict=True):
        assert list(entry["values"].values()) == pytest.approx(trial.values)
        assert entry["candidate"]["architecture"]["topology"] in ("single_task", "mmoe")
        assert set(entry["test"]) == {"y1", "y2"} and "auc" in entry["test"]["y1"]
    assert front["objectives"] == [{"name": "y1", "direction": "maximize", "metric": "auc"},
                                   {"name": "y2", "direction": "maximize", "metric": "auc"}]
    assert front["reference_point"] == {"y1": 0.5, "y2": 0.5}
    assert front["n_dominated"] == 4 - len(best) and front["status"] == "succeeded"


def test_a_front_trial_and_its_trials_entry_share_names_values_and_a_relative_artifact(finished):
    """/pareto and /trials name a trial's fields alike (the record's names) and show the same
    relative artifact folder: the study keeps the worker's absolute path, which /pareto once
    showed (new-user pass item 12)."""
    from automtl.trial_record import ATTR_ARTIFACT, stored_attrs
    from automtl_api.schemas import TRIAL_ALIASES

    front = _get(finished, "/pareto").json()["trials"]
    trials = {t["number"]: t for t in _get(finished, "/trials").json()["items"]}
    assert front
    for entry in front:
        row = trials[entry["number"]]
        stored = stored_attrs(finished.study.trials[entry["number"]])[ATTR_ARTIFACT]
        assert Path(stored).is_absolute()  # what the study holds, not what is shown
        assert entry["artifact"] == row["artifact"] == row["artifact_path"]
        assert not Path(entry["artifact"]).is_absolute()
        assert Path(finished.settings.resolved_artifact_dir, entry["artifact"],
                    "model.pt").is_file()
        assert str(finished.root) not in _get(finished, "/pareto").text
        assert entry["values"] == pytest.approx(row["values"])
        for name in ("candidate", "valid", "test", "num_params", "on_front", "params"):
            assert entry[name] == row[name], name
        # every old name is an alias carrying the same value as the record's name
        for record, alias in TRIAL_ALIASES.items():
            assert row[alias] == row[record], alias
    schema = finished.client.get("/openapi.json").json()["components"]["schemas"]["TrialRead"]
    assert all(schema["properties"][alias].get("deprecated") for alias in TRIAL_ALIASES.values())
    assert not any(schema["properties"][record].get("deprecated") for record in TRIAL_ALIASES)


def test_the_front_as_csv_matches_the_json(finished):
    front = _get(finished, "/pareto").json()
    response = _get(finished, "/pareto?format=csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["trial"]) for r in rows] == [t["number"] for t in front["trials"]]
    for row, entry in zip(rows, front["trials"], strict=True):
        assert float(row["y1"]) == pytest.approx(entry["values"]["y1"])
        assert float(row["y2"]) == pytest.approx(entry["values"]["y2"])
        assert float(row["test_y1_auc"]) == pytest.approx(entry["test"]["y1"]["auc"])
        assert row["topology"] == entry["candidate"]["architecture"]["topology"]


def test_the_report_page_shows_the_front_gains_and_utilisation(finished):
    page = _get(finished, "/report?plotly=inline").text
    trials = _get(finished, "/trials").json()["items"]
    assert 'id="pareto-front"' in page and 'id="hypervolume-history"' in page
    assert page.count("plotly.js v") == 1  # embedded once
    assert not re.search(r"<script[^>]+src=", page)  # nothing loaded from a CDN
    front = _get(finished, "/pareto").json()
    table = page[page.index('id="front-table"'):]
    for entry in front["trials"]:
        assert f"<td>{entry['number']}</td>" in table
    single = [t for t in trials if t["config"]["architecture"]["topology"] == "single_task"]
    assert single, "the seeded random sampler draws a single-task baseline"
    best = max(single, key=lambda t: t["valid_metrics"]["y1"]["auc"])
    assert f"y1: trial {best['number']} " in page  # the baseline named in the gain section
    gated_front = any(t["on_front"] and t["gate_utilisation"] for t in trials)
    assert ('id="expert-utilisation"' in page) == gated_front


@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="headless Chromium is not installed (/usr/bin/chromium); "
                           "scripts/test.sh installs Debian's chromium")
def test_the_report_renders_in_headless_chromium(finished, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(_get(finished, "/report?plotly=inline").text)
    common = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
              "--no-first-run", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
              "--window-size=1400,2400"]
    screenshot = tmp_path / "report.png"
    subprocess.run([*common, f"--screenshot={screenshot}", page.as_uri()], check=True,
                   capture_output=True, timeout=120)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 10_000
    done = subprocess.run([*common, "--enable-logging=stderr", "--v=0",
                           "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                          check=True, capture_output=True, timeout=120, text=True)
    dom = done.stdout
    # Plotly's script ran: every panel's div became a plot with an SVG inside
    for panel in ("pareto-front", "param-importances", "parallel-coordinates",
                  "learning-curves", "objectives", "hypervolume-history"):
        at = dom.index(f'id="{panel}"')
        assert "js-plotly-plot" in dom[at - 200:at + 200], panel
    assert "main-svg" in dom
    assert 'id="trials-table"' in dom and 'id="topology-table"' in dom
    # no JavaScript error in the console (Chromium logs them as CONSOLE lines)
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if "Uncaught" in line or "Error" in line], console


def test_the_cli_exports_a_bundle_over_rest_as_the_route_serves_it(finished, tmp_path,
                                                                     monkeypatch, capsys):
    """New-user pass item 8: ``automtl export JOB`` needed the server's database while submit,
    status and report worked over REST; with --url/--token it now fetches GET .../export."""
    import types
    import zipfile

    import httpx

    import automtl_api.client as client_module
    from automtl.cli import main

    app = finished.client.app

    def in_process(base_url: str, timeout: float, headers: dict[str, str]) -> TestClient:
        return TestClient(app, base_url=base_url, headers=headers)  # the app, no socket

    monkeypatch.setattr(client_module, "httpx",
                        types.SimpleNamespace(Client=in_process, HTTPError=httpx.HTTPError))
    monkeypatch.delenv("AUTOMTL_DATABASE_URL", raising=False)
    token = finished.headers["Authorization"].removeprefix("Bearer ")
    out = tmp_path / "bundle"
    command = ["export", str(finished.job_id), "--url", "http://testserver", "--token", token,
               "--out", str(out), "--trial", "1"]
    assert main(command) == 0, capsys.readouterr().err
    assert f"exported trial 1 of job {finished.job_id}" in capsys.readouterr().out
    served = _get(finished, "/export?trial=1")
    with zipfile.ZipFile(io.BytesIO(served.content)) as archive:
        names = {n.split("/", 1)[1] for n in archive.namelist() if not n.endswith("/")}
        assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} == names
        first = sorted(names)[0]
        assert (out / first).read_bytes() == next(
            archive.read(n) for n in archive.namelist() if n.endswith("/" + first))
    assert (out / "train.py").is_file()
    assert main(command) == 2  # the folder is not empty now: refused without --force
    assert "--force" in capsys.readouterr().err
    command[command.index(str(out))] = str(tmp_path / "other")
    assert main([*command[:-2], "--trial", "99"]) == 2  # the server's 404, printed
    assert "HTTP 404" in capsys.readouterr().err
    # chosen by the server: the line gives every objective's resolved weight (the header's)
    chosen = [*command[:-2], "--prefer", "y1=2"]
    chosen[chosen.index(str(tmp_path / "other"))] = str(tmp_path / "chosen")
    assert main(chosen) == 0, capsys.readouterr().err
    assert "chosen by the server (weights y1=2, y2=1)" in capsys.readouterr().out


def test_the_confirmed_gain_table_over_rest_json_and_csv(finished):
    """The confirmation's gain table was only in the HTML page: GET /pareto gives it as
    ``mtl_gain`` and ``?format=csv&table=gains`` as CSV, under the front.json names. (Last in
    the module: it stores a confirmation on the shared study, then takes it back.)"""
    from automtl.jobspec import load_job_spec
    from automtl.report.pareto import GAIN_FIELDS
    from automtl.search.confirm import summarize
    from automtl.trial_record import STUDY_CONFIRMATION_ATTR, set_study_attr
    from automtl_api.report_cache import ResultCache

    assert _get(finished, "/pareto").json()["mtl_gain"] is None  # not confirmed
    job_spec = load_job_spec(tiny_spec({"builtin": "synthetic", "rows": 200},
                                       confirm={"seeds": 3}))
    front_trial = _get(finished, "/pareto").json()["trials"][0]
    candidates = [{"trial": front_trial["number"], "topology": "mmoe", "roles": ["front"]},
                  {"trial": 99, "topology": "single_task", "roles": ["single_task"]}]
    tasks = [t.name for t in job_spec.tasks]
    scores = {front_trial["number"]: [{n: {"auc": 0.8 + s / 100} for n in tasks}
                                      for s in range(3)],
              99: [{n: {"auc": 0.7 + s / 50} for n in tasks} for s in range(3)]}
    set_study_attr(finished.study, STUDY_CONFIRMATION_ATTR,
                   summarize(job_spec, candidates, scores))
    finished.client.app.state.result_cache = ResultCache()  # the version did not change
    try:
        table = _get(finished, "/pareto").json()["mtl_gain"]
        assert table["baseline_trial"] == 99 and table["seeds"] == job_spec.confirm.seeds
        assert [tuple(row) for row in table["gains"]] == [GAIN_FIELDS] * len(tasks)
        response = _get(finished, "/pareto?format=csv&table=gains")
        assert response.headers["content-type"].startswith("text/csv")
        assert "gains.csv" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert list(rows[0]) == list(GAIN_FIELDS)
        assert [float(r["gain"]) for r in rows] == pytest.approx(
            [g["gain"] for g in table["gains"]])
        assert [r["verdict"] for r in rows] == [g["verdict"] for g in table["gains"]]
    finally:
        set_study_attr(finished.study, STUDY_CONFIRMATION_ATTR, None)
        finished.client.app.state.result_cache = ResultCache()
