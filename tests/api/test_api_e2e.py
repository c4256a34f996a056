"""End to end: ``automtl serve`` as a real process (API + worker subprocess + local Ray) on a
free port with a temporary SQLite file, driven over HTTP and by the CLI; the front it serves is
checked against the Optuna study in the same database."""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import optuna
import pytest
from api_support import TINY_SPACE, tiny_csv

from automtl_storage import optuna_storage

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "automtl.cli", *args], env=env, text=True,
                          capture_output=True, timeout=timeout)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    database_url = f"sqlite:///{root / 'automtl.db'}"
    env = {**os.environ, "AUTOMTL_ENV": "test", "AUTOMTL_DATABASE_URL": database_url,
           "AUTOMTL_DATA_DIR": str(root / "data"), "AUTOMTL_ARTIFACT_DIR": str(root / "runs"),
           "AUTOMTL_RAY_NUM_CPUS": "2", "AUTOMTL_HEARTBEAT_INTERVAL_S": "1",
           "AUTOMTL_STALE_AFTER_S": "30", "RAY_AUTH_MODE": "disabled",
           "RAY_USAGE_STATS_ENABLED": "0", "AUTOMTL_URL": f"http://127.0.0.1:{port}"}
    created = _cli(env, "token", "create", "alice")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    env["AUTOMTL_TOKEN"] = token
    log = (root / "serve.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "automtl.cli", "serve", "--port", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (root / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.5)
        with httpx.Client(base_url=f"{url}/api/v1", timeout=60,
                          headers={"Authorization": f"Bearer {token}"}) as http:
            yield SimpleNamespace(http=http, env=env, root=root, database_url=database_url,
                                  log=root / "serve.log", process=process)
    finally:
        process.send_signal(signal.SIGINT)  # uvicorn shuts down; serve stops its worker
        try:
            process.wait(timeout=60)
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            log.close()


def test_a_job_submitted_over_http_runs_and_its_front_matches_the_study(server, tmp_path):
    http = server.http
    dataset = http.post("/datasets", files={"file": ("tiny.csv", tiny_csv())})
    assert dataset.status_code == 201, dataset.text
    spec = {"name": "e2e", "dataset": {"id": dataset.json()["id"]},
            "tasks": [{"name": "y1"}, {"name": "y2"}], "search_space": TINY_SPACE,
            "sampler": "random", "budget": {"trials": 4, "epochs": 2}}
    submitted = http.post("/jobs", json=spec)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]

    deadline = time.monotonic() + 420
    while (job := http.get(f"/jobs/{job_id}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, server.log.read_text()[-3000:]
        time.sleep(1.0)
    assert job["status"] == "succeeded", (job, server.log.read_text()[-3000:])
    assert job["progress"]["finished"] == 4

    front = http.get(f"/jobs/{job_id}/pareto").json()
    study = optuna.load_study(study_name=job["study_name"],
                              storage=optuna_storage(server.database_url))
    best = sorted(study.best_trials, key=lambda t: t.number)
    assert [t["number"] for t in front["trials"]] == [t.number for t in best]
    for entry, trial in zip(front["trials"], best, strict=True):
        assert [entry["values"]["y1"], entry["values"]["y2"]] == pytest.approx(trial.values)
    assert front["n_trials"] == 4 and front["n_dominated"] == 4 - len(best)

    as_csv = http.get(f"/jobs/{job_id}/pareto", params={"format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(as_csv)))
    assert [int(r["trial"]) for r in rows] == [t.number for t in best]

    report = http.get(f"/jobs/{job_id}/report")  # Plotly loaded from the API
    assert report.status_code == 200 and 'id="pareto-front"' in report.text
    assert "plotly.js v" not in report.text and "/assets/plotly.min.js" in report.text

    # the CLI reads the same things
    status = _cli(server.env, "status", str(job_id))
    assert status.returncode == 0
    assert "succeeded; trials: 4 ended (4 complete, 0 pruned, 0 failed) of a budget of 4" in \
        status.stdout
    out = tmp_path / "front.csv"
    fetched = _cli(server.env, "report", str(job_id), "--format", "csv", "--out", str(out))
    assert fetched.returncode == 0, fetched.stderr
    assert out.read_text() == as_csv
    page = tmp_path / "report.html"
    assert _cli(server.env, "report", str(job_id), "--format", "html", "--out",
                str(page)).returncode == 0
    assert 'id="pareto-front"' in page.read_text()
    assert "plotly.js v" in page.read_text()  # the CLI's file opens offline


def test_the_cli_submits_a_spec_with_a_local_file_and_reports_bad_fields(server, tmp_path):
    table = tmp_path / "clicks.csv"
    table.write_bytes(tiny_csv(rows=300, seed=5))
    spec = tmp_path / "job.yaml"
    spec.write_text("name: from-cli\ndataset: {path: clicks.csv}\n"
                    "tasks: [{name: y1}, {name: missing}]\nbudget: {trials: 2}\n")
    uploaded_before = server.http.get("/datasets").json()["total"]  # the module's server
    refused = _cli(server.env, "submit", str(spec))
    assert refused.returncode == 2  # a user error, found by the data checks before the upload
    assert "checked here before the data is uploaded" in refused.stderr
    assert "tasks[1].name: task 'missing': label column 'missing' is not in the data" in \
        refused.stderr
    assert server.http.get("/datasets").json()["total"] == uploaded_before  # no upload
    spec.write_text("name: from-cli\ndataset: {path: clicks.csv}\n"
                    "tasks: [{name: y1}, {name: y2}]\nbudget: {trials: 2}\n")
    accepted = _cli(server.env, "submit", str(spec))
    assert accepted.returncode == 0, accepted.stderr
    job_id = int(accepted.stdout.strip())
    job = server.http.get(f"/jobs/{job_id}").json()
    assert job["name"] == "from-cli" and job["dataset_id"] is not None
    assert server.http.post(f"/jobs/{job_id}/cancel").status_code == 200
    wrong = _cli({**server.env, "AUTOMTL_TOKEN": "amtl_wrong"}, "status", str(job_id))
    assert wrong.returncode == 2 and "HTTP 401" in wrong.stderr


def test_the_token_is_stored_hashed(server):
    import sqlite3

    token = server.env["AUTOMTL_TOKEN"]
    with sqlite3.connect(server.root / "automtl.db") as connection:
        stored = [row[0] for row in connection.execute(
            "SELECT token_hash FROM automtl_api_tokens")]
    assert token not in stored and len(stored) == 1 and len(stored[0]) == 64


def test_openapi_docs_are_served(server):
    url = str(server.http.base_url).removesuffix("/api/v1/")
    docs = httpx.get(f"{url}/docs", timeout=10)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    paths = httpx.get(f"{url}/openapi.json", timeout=10).json()["paths"]
    for path in ("/api/v1/jobs", "/api/v1/jobs/{job_id}/pareto", "/api/v1/datasets",
                 "/api/v1/search-spaces/validate", "/api/v1/healthz"):
        assert path in paths


def test_serve_stops_its_worker_when_it_shuts_down(tmp_path):
    port = _free_port()
    env = {**os.environ, "AUTOMTL_ENV": "test", "AUTOMTL_DATA_DIR": str(tmp_path / "data"),
           "AUTOMTL_DATABASE_URL": f"sqlite:///{tmp_path / 'automtl.db'}"}
    process = subprocess.Popen([sys.executable, "-m", "automtl.cli", "serve", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        children: list[str] = []
        while not children:
            assert time.monotonic() < deadline and process.poll() is None
            found = subprocess.run(["pgrep", "-P", str(process.pid), "-f", "automtl.cli worker"],
                                   capture_output=True, text=True)
            children = found.stdout.split()
            time.sleep(0.5)
        while True:  # wait until the API answers, then shut it down like Ctrl+C would
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=90) == 0
        for pid in children:
            with pytest.raises(ProcessLookupError):
                os.kill(int(pid), 0)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
