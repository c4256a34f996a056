"""The API under load (issue 20 item 1): writes take turns instead of failing, a busy database
answers 503 with Retry-After and writes nothing, the embedded worker runs at a lower CPU
priority than the API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from api_support import child_pids, make_settings, tiny_spec
from pydantic import ValidationError

from automtl_api.demo_service import free_port
from automtl_api.settings import Settings
from automtl_storage import upgrade


def test_a_write_that_gets_no_turn_answers_503_and_writes_nothing(client, alice):
    spec = tiny_spec({"builtin": "synthetic", "rows": 500})
    database = client.app.state.database
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with database.write_session():
            inside.set()
            leave.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(10)
        database.write_timeout_s = 0.2
        busy = client.post("/api/v1/jobs", headers=alice, json=spec)
        assert busy.status_code == 503, busy.text
        assert busy.headers["retry-after"] == "5"
        assert busy.json()["detail"][0]["type"] == "database_busy"
    finally:
        leave.set()
        holder.join(10)
    assert client.get("/api/v1/jobs", headers=alice).json()["total"] == 0
    assert client.post("/api/v1/jobs", headers=alice, json=spec).status_code == 202
    assert client.get("/api/v1/jobs", headers=alice).json()["total"] == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"),
    reason=("finds serve's worker through /proc/<pid>/task/*/children and reads "
            "its nice value; only Linux has that /proc"))
def test_serve_starts_its_worker_at_a_lower_cpu_priority(tmp_path):
    """``automtl serve``'s worker runs AUTOMTL_WORKER_NICE steps below the API (its Ray
    trials inherit that), so training on the same cores does not starve the requests."""
    settings = make_settings(tmp_path, port=free_port(), worker_nice=3)
    upgrade(settings.resolved_database_url)
    env = {**os.environ, **settings.environment(), "RAY_USAGE_STATS_ENABLED": "0"}
    assert env["AUTOMTL_WORKER_NICE"] == "3"
    serve = subprocess.Popen([sys.executable, "-m", "automtl.cli", "serve"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while not workers and time.monotonic() < deadline:
            assert serve.poll() is None, "serve exited"
            workers = [c for c in child_pids(serve.pid)
                       if b"worker" in Path(f"/proc/{c}/cmdline").read_bytes()]
            time.sleep(0.2)
        assert len(workers) == 1, "serve started no worker"
        api = os.getpriority(os.PRIO_PROCESS, serve.pid)
        assert os.getpriority(os.PRIO_PROCESS, workers[0]) == min(19, api + 3)
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()


def test_the_worker_priority_step_is_bounded():
    from automtl_api.commands import WorkerProcess

    with pytest.raises(ValueError, match="nice"):
        WorkerProcess({}, nice=20)
    with pytest.raises(ValidationError, match="worker_nice"):
        Settings(env="test", worker_nice=-1)
    assert Settings(env="test").worker_nice == 10


#: One fresh process (the first app start of a process is what is checked) for the three
#: start-up tests below, which read their own fields of what it prints: each part looks at
#: what the start-up did before anything else runs (the report page and the importance fit
#: come after every "after start" reading), so one process serves all three instead of three
#: processes importing torch, Plotly and the service (~9 s each on two loaded cores).
START_UP_CHECK = """
import gc, json, sys
from pathlib import Path
from fastapi.testclient import TestClient
from plotly.validator_cache import ValidatorCache
from automtl_api.main import WARM_MODULES, create_app
from automtl_api.settings import Settings
from automtl_storage import upgrade
sys.path.insert(0, sys.argv[2])
from api_support import create_token, tiny_csv, tiny_spec
import optuna
settings = Settings(env="test", data_dir=Path(sys.argv[1]))
upgrade(settings.resolved_database_url)
headers = create_token(settings, "alice")
app = create_app(settings)
seen = {"modules_before": [m for m in WARM_MODULES if m in sys.modules],
        "frozen_before": gc.get_freeze_count(),
        "validators_before": ValidatorCache._json_cache is not None,
        "sklearn_before": any(m.startswith("sklearn") for m in sys.modules)}
with TestClient(app) as client:
    seen.update({"modules_after": [m for m in WARM_MODULES if m in sys.modules],
                 "frozen_after": gc.get_freeze_count(),
                 "validators_after": ValidatorCache._json_cache is not None,
                 "sklearn_after": any(m.startswith("sklearn") for m in sys.modules)})
    data = client.post("/api/v1/datasets", headers=headers,
                       files={"file": ("t.csv", tiny_csv(), "text/csv")}).json()
    job = client.post("/api/v1/jobs", headers=headers,
                      json=tiny_spec({"id": data["id"]})).json()["id"]
    loaded = set(sys.modules)
    parsed = []
    real_load = json.load
    json.load = lambda *a, **k: parsed.append(1) or real_load(*a, **k)
    page = client.get(f"/api/v1/jobs/{job}/report", headers=headers)
    json.load = real_load
    seen.update({"report_status": page.status_code, "report_front": "Pareto front" in page.text,
                 "report_plotly_imports": sorted(m for m in set(sys.modules) - loaded
                                                 if "plotly" in m),
                 "report_json_parses": len(parsed)})
    from automtl.report.importances import param_importances
    study = optuna.create_study(directions=["maximize"])
    for lr, value in ((0.1, 0.5), (0.01, 0.7), (0.001, 0.6)):
        study.enqueue_trial({"lr": lr})
        trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True)})
        study.tell(trial, value)
    loaded = set(sys.modules)
    result = param_importances(study, [{"name": "y1", "metric": "auc"}])
    seen.update({"importances": sorted(result),
                 "importance_imports": len(set(sys.modules) - loaded)})
seen["frozen_at_stop"] = gc.get_freeze_count()
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def start_up(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What a fresh process's first app start did (:data:`START_UP_CHECK`)."""
    out = subprocess.run([sys.executable, "-c", START_UP_CHECK,
                          str(tmp_path_factory.mktemp("start-up")), str(Path(__file__).parent)],
                         check=True, capture_output=True, text=True, timeout=300).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_the_api_imports_what_requests_need_before_it_serves(start_up):
    """Spec validation imports torch and every model and weighting, the report Plotly: done at
    start-up, not by the first requests (which stalled every other one behind the import);
    the objects alive then are frozen out of the garbage collector's full collections."""
    from automtl_api.main import WARM_MODULES

    assert start_up["modules_before"] == []
    assert start_up["modules_after"] == list(WARM_MODULES)
    # and then puts what it imported out of the garbage collector's reach (gc.freeze): full
    # collections traversing ~300,000 start-up objects paused every request for ~0.5 s
    assert start_up["frozen_before"] == 0 and start_up["frozen_after"] > 100_000
    assert start_up["frozen_at_stop"] == 0  # unfrozen when the app stops


def test_the_api_renders_a_report_once_at_start_up_so_the_first_request_does_not_pay_plotlys_set_up(
        start_up):
    """Plotly's first figure in a process parses its validator schema (a 0.4 s JSON load) and
    imports the figure classes: ~0.5 s of CPU that the first report request paid while every
    reader of that job waited (the slowest 1% of the reports under load, issue 20). The app's
    start-up pays it: the first report page then imports no Plotly module and parses no JSON
    file."""
    assert not start_up["validators_before"] and start_up["validators_after"]
    assert start_up["report_status"] == 200 and start_up["report_front"]
    assert start_up["report_plotly_imports"] == [] and start_up["report_json_parses"] == 0


def test_the_api_fits_importances_once_at_start_up_so_a_running_jobs_first_report_does_not_import(
        start_up):
    """A running job's report fits parameter importances (fANOVA) once two trials are
    complete; the first fit in a process imported scikit-learn, pandas and joblib (~1,300
    modules, ~1.5 s with the import lock held) while every request waited: with the worker
    training, the reads' p99 was 2.6 s at the moment the read job's trials landed (issue 20).
    The app's start-up pays it: a fit after it imports no module."""
    assert not start_up["sklearn_before"] and start_up["sklearn_after"]
    assert start_up["importances"] == ["y1 auc (valid)"] and start_up["importance_imports"] == 0


def test_a_second_app_in_the_process_does_not_render_the_warm_up_report_again(
        settings, monkeypatch):
    """What the warm-up render warms (Plotly's validators, the importance evaluator's imports)
    lasts as long as the process: the first app's start-up renders it, a later app's start-up
    in the same process does not (~0.5 s of CPU warming nothing); both still import what
    requests need and freeze their start-up objects."""
    import gc

    from fastapi.testclient import TestClient

    from automtl_api import main, results

    renders = []
    real_render = results.warm_report_rendering
    monkeypatch.setattr(results, "warm_report_rendering",
                        lambda: renders.append(1) or real_render())
    monkeypatch.setattr(main, "_report_rendering_warmed", False)
    for _ in range(2):
        with TestClient(main.create_app(settings)):
            assert all(name in sys.modules for name in main.WARM_MODULES)
            assert gc.get_freeze_count() > 0
    assert renders == [1]


def test_sqlites_database_is_locked_is_a_503_and_other_database_errors_stay_500(
        settings, alice, monkeypatch):
    from fastapi.testclient import TestClient
    from sqlalchemy.exc import OperationalError

    from automtl_api.main import create_app
    from automtl_storage import JobRepository

    cause = {"message": "database is locked"}

    def failing_create(*args, **kwargs):
        raise OperationalError("INSERT INTO automtl_jobs ...", {}, Exception(cause["message"]))

    monkeypatch.setattr(JobRepository, "create", failing_create)
    spec = tiny_spec({"builtin": "synthetic", "rows": 500})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        locked = client.post("/api/v1/jobs", headers=alice, json=spec)
        assert locked.status_code == 503 and locked.headers["retry-after"] == "5"
        cause["message"] = "disk I/O error"
        assert client.post("/api/v1/jobs", headers=alice, json=spec).status_code == 500
