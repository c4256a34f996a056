"""Several API processes (``automtl serve --api-workers N``, issue 20 item 1): one job worker
per serve, every process stopped with serve (SIGTERM, and ``kill -9`` of serve), SQLite writes
from several processes all commit, and each process's result cache follows what another
process wrote."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from api_support import child_pids, make_settings, tiny_spec
from fastapi.testclient import TestClient
from pydantic import ValidationError

from automtl_api.demo_service import free_port
from automtl_api.main import create_app
from automtl_api.settings import Settings
from automtl_storage import upgrade

LINUX_ONLY = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="finds serve's processes through /proc/<pid>/task/*/children; only Linux has it")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except FileNotFoundError:
        return b""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; its parent has not reaped it yet


def _serve(tmp_path: Path, *flags: str) -> tuple[subprocess.Popen[bytes], str]:
    settings = make_settings(tmp_path, port=free_port())
    upgrade(settings.resolved_database_url)
    env = {**os.environ, **settings.environment(), "RAY_USAGE_STATS_ENABLED": "0"}
    serve = subprocess.Popen([sys.executable, "-m", "automtl.cli", "serve", *flags], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return serve, f"http://127.0.0.1:{settings.port}"


def _wait_for(serve: subprocess.Popen[bytes], base: str, api: int, workers: int
              ) -> tuple[list[int], list[int]]:
    """Wait until ``/healthz`` answers and serve has ``api`` API processes (uvicorn's spawned
    ones) and ``workers`` job workers; returns their pids."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert serve.poll() is None, "serve exited"
        children = child_pids(serve.pid)
        apis = [c for c in children if b"multiprocessing" in _cmdline(c)
                and b"resource_tracker" not in _cmdline(c)]
        jobs = [c for c in children if b"automtl.cli worker" in _cmdline(c)]
        try:
            healthy = httpx.get(f"{base}/healthz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            healthy = False
        if healthy and len(apis) >= api and len(jobs) >= workers:
            return apis, jobs
        time.sleep(0.3)
    raise AssertionError(f"serve did not start {api} API processes and {workers} workers")


def _stop(serve: subprocess.Popen[bytes]) -> None:
    if serve.poll() is None:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()


@LINUX_ONLY
def test_serve_with_two_api_processes_starts_one_worker_and_stops_them_all(tmp_path):
    serve, base = _serve(tmp_path, "--api-workers", "2")
    try:
        apis, jobs = _wait_for(serve, base, api=2, workers=1)
        time.sleep(2.0)  # a second worker, if one per API process were started, shows by now
        children = child_pids(serve.pid)
        assert len([c for c in children if b"automtl.cli worker" in _cmdline(c)]) == 1
        assert len(apis) == 2 and all(_alive(p) for p in apis)
        for _ in range(10):  # both share the port; every request is answered
            assert httpx.get(f"{base}/healthz", timeout=10.0).status_code == 200
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=90) == 0
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in apis + jobs) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in apis + jobs if _alive(p)], "a process outlived serve"
    finally:
        _stop(serve)


@LINUX_ONLY
def test_the_api_processes_die_with_a_killed_serve(tmp_path):
    """uvicorn's processes would keep serving the port after a ``kill -9`` of serve; they get
    SIGTERM from Linux (PR_SET_PDEATHSIG) and exit, freeing it."""
    serve, base = _serve(tmp_path, "--no-worker", "--api-workers", "2")
    apis: list[int] = []
    try:
        apis, _ = _wait_for(serve, base, api=2, workers=0)
        serve.kill()
        serve.wait()
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in apis) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in apis if _alive(p)], "an API process outlived its killed serve"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/healthz", timeout=5.0)
    finally:
        _stop(serve)
        for pid in apis:  # when the check above failed: leave no server behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_number_of_api_processes_is_a_bounded_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOMTL_API_WORKERS", "3")
    settings = Settings(env="test", data_dir=tmp_path)
    assert settings.api_workers == 3
    assert settings.environment()["AUTOMTL_API_WORKERS"] == "3"  # what each process reads
    for bad in ("0", "65"):
        monkeypatch.setenv("AUTOMTL_API_WORKERS", bad)
        with pytest.raises(ValidationError, match="api_workers"):
            Settings(env="test", data_dir=tmp_path)
    monkeypatch.delenv("AUTOMTL_API_WORKERS")
    assert Settings(env="test", data_dir=tmp_path).api_workers == 1


WRITER = """
import sys, threading
from automtl_storage import Database, OwnerRepository
database = Database(sys.argv[1])
errors = []

def write(thread):
    for i in range(int(sys.argv[3])):
        try:
            # a read, then a write, in one session: the pattern of the API's writes
            with database.write_session() as session:
                OwnerRepository(session).get_or_create(f"{sys.argv[2]}-{thread}-{i}")
        except Exception as exc:
            errors.append(repr(exc))

threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(len(errors), errors[:3])
sys.exit(1 if errors else 0)
"""


def test_sqlite_writes_from_several_processes_all_commit(tmp_path):
    """The API's in-process write turn does not span processes: between them SQLite's own
    lock and busy timeout serialise the writes, none fails with "database is locked"."""
    settings = make_settings(tmp_path)
    url = settings.resolved_database_url
    upgrade(url)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, f"p{n}", "40"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
               for n in range(3)]
    for writer in writers:
        out, _ = writer.communicate(timeout=300)
        assert writer.returncode == 0, out.decode()
    from automtl_storage import Database, OwnerRepository

    with Database(url) as database, database.session() as session:
        names = {o.name for o in OwnerRepository(session).list()}
    assert len([n for n in names if n[:2] in ("p0", "p1", "p2")]) == 3 * 4 * 40


def test_each_processes_cache_follows_what_another_process_wrote(settings, alice):
    """Two apps on one database, as two API processes: the page and the job one process
    cached follow a cancel written through the other (the cache is keyed by the job's
    version read from the database, not told of writes)."""
    spec = tiny_spec({"builtin": "synthetic", "rows": 500})
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        job = first.post("/api/v1/jobs", headers=alice, json=spec).json()
        url = f"/api/v1/jobs/{job['id']}/report"
        before = second.get(url, headers=alice)
        cache = second.app.state.result_cache
        renders = cache.renders
        assert second.get(url, headers=alice).headers["etag"] == before.headers["etag"]
        assert cache.renders == renders  # kept: the queued job's version did not change
        assert first.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice
                          ).json()["status"] == "cancelled"
        assert second.get(f"/api/v1/jobs/{job['id']}", headers=alice
                          ).json()["status"] == "cancelled"
        after = second.get(url, headers=alice)
        assert after.status_code == 200 and cache.renders == renders + 1
        assert after.headers["etag"] != before.headers["etag"]



def test_the_api_connection_bound_is_processes_times_two_pools(tmp_path):
    """Each API process has two pools (requests, Optuna studies) of ``db_pool_size`` +
    ``db_max_overflow`` connections (20 + 20): 80 per process, 320 at ``--api-workers 4``."""
    def settings(**values):
        return Settings(env="test", data_dir=tmp_path, **values)

    assert settings().api_connections_max == 80
    assert settings(api_workers=4).api_connections_max == 320
    assert settings(api_workers=2, db_pool_size=7, db_max_overflow=0).api_connections_max == 28
    four = settings(api_workers=4)
    upgrade(four.resolved_database_url)
    app = create_app(four)
    assert app.state.database.engine.pool.size() == 20
    assert app.state.study_storage.get().engine.pool.size() == 20
    app.state.database.dispose()


def test_serve_warns_at_start_up_when_its_pools_exceed_what_postgresql_takes(
        tmp_path, postgres_database_url):
    """``--api-workers 4`` with the default pools (320 connections possible) on a server that
    takes fewer: serve says so on stderr at start-up, with the figures and what to change,
    and serves; one process (80) below the limit gets no warning; SQLite is not checked."""
    from automtl_api.commands import check_connection_bound
    from automtl_storage import connection_limit

    limit = connection_limit(postgres_database_url)
    assert limit is not None and limit[0] > 0 and "max_connections" in limit[1]
    assert connection_limit(f"sqlite:///{tmp_path / 'a.db'}") is None
    pool = limit[0] // 4 + 1  # 4 processes x 2 pools x (pool + 0) > the limit
    settings = make_settings(tmp_path, database_url=postgres_database_url, api_workers=4,
                             db_pool_size=pool, db_max_overflow=0)
    warning = check_connection_bound(settings)
    assert warning is not None
    assert f"can open {4 * 2 * pool} PostgreSQL connections" in warning
    assert f"the server takes {limit[0]}" in warning
    assert "AUTOMTL_DB_POOL_SIZE" in warning and "--api-workers" in warning
    small = make_settings(tmp_path, database_url=postgres_database_url, db_pool_size=1,
                          db_max_overflow=0)
    assert check_connection_bound(small) is None  # 2 connections
    assert check_connection_bound(make_settings(tmp_path, api_workers=4)) is None  # SQLite
    settings = make_settings(tmp_path, port=free_port(), database_url=postgres_database_url,
                             api_workers=4, db_pool_size=pool, db_max_overflow=0)
    env = {**os.environ, **settings.environment(), "RAY_USAGE_STATS_ENABLED": "0"}
    serve = subprocess.Popen([sys.executable, "-m", "automtl.cli", "serve", "--no-worker"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        healthy = False
        while time.monotonic() < deadline and serve.poll() is None and not healthy:
            try:
                healthy = httpx.get(f"http://127.0.0.1:{settings.port}/healthz",
                                    timeout=2.0).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.5)
        assert healthy, "serve did not answer /healthz"
    finally:
        _stop(serve)
    assert serve.stderr is not None
    stderr = serve.stderr.read().decode()
    assert f"automtl serve: {warning}" in stderr
    # on this new database no API process died creating Optuna's tables beside another
    assert "died" not in stderr and "UniqueViolation" not in stderr, stderr[-3000:]
