"""docker/entrypoint.sh run here, as the image runs it, against a SQLite file: each role starts
the real command (the venv's ``automtl`` on PATH stands in for the image's)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from docker_files import ENTRYPOINT

from automtl_api.demo_service import free_port

VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The image's environment: its data dirs, plus a SQLite URL instead of PostgreSQL."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AUTOMTL_")}
    return {**base, "PATH": f"{VENV_BIN}:{base.get('PATH', '/usr/bin:/bin')}",
            "AUTOMTL_DATABASE_URL": f"sqlite:///{tmp_path / 'automtl.db'}",
            "AUTOMTL_DATA_DIR": str(tmp_path / "data"),
            "AUTOMTL_ARTIFACT_DIR": str(tmp_path / "artifacts"),
            "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _entrypoint(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ENTRYPOINT), *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; each is stopped (its whole session) at the end."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _start(role: str, env: dict[str, str], log: Path,
           started: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    process = subprocess.Popen(["bash", str(ENTRYPOINT), role], env=env, stdout=log.open("w"),
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    started.append(process)
    return process


def test_migrate_role_applies_the_migrations(env: dict[str, str]) -> None:
    result = _entrypoint("migrate", env=env)
    assert result.returncode == 0, result.stderr
    current = _entrypoint("automtl", "db", "current", env=env)  # the pass-through role
    assert current.returncode == 0, current.stderr
    from automtl_storage.migrate import head_revision

    assert head_revision() in current.stdout


def test_api_role_serves_healthz(env: dict[str, str], tmp_path: Path,
                                 started: list[subprocess.Popen[str]]) -> None:
    port = free_port()
    api = _start("api", {**env, "AUTOMTL_PORT": str(port), "AUTOMTL_HOST": "127.0.0.1"},
                 tmp_path / "api.log", started)
    deadline = time.monotonic() + 90
    answer = None
    while time.monotonic() < deadline and api.poll() is None:
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2.0)
            break
        except httpx.HTTPError:
            time.sleep(0.3)
    log = (tmp_path / "api.log").read_text()
    assert answer is not None, f"no answer from the api role:\n{log}"
    assert answer.status_code == 200 and answer.json() == {"status": "ok", "database": "sqlite"}
    # the api role applied the migrations itself and started no worker
    assert "waiting for jobs" not in log
    assert _entrypoint("automtl", "db", "current", env=env).returncode == 0
    api.send_signal(signal.SIGTERM)
    assert api.wait(timeout=30) == 0


def test_worker_role_stays_up_and_stops_on_sigterm(env: dict[str, str], tmp_path: Path,
                                                   started: list[subprocess.Popen[str]]) -> None:
    assert _entrypoint("migrate", env=env).returncode == 0
    worker = _start("worker", env, tmp_path / "worker.log", started)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "waiting for jobs" not in \
            (tmp_path / "worker.log").read_text():
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        time.sleep(0.3)
    time.sleep(3.0)
    assert worker.poll() is None, (tmp_path / "worker.log").read_text()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert "stopped" in (tmp_path / "worker.log").read_text()


def test_worker_role_refuses_an_unmigrated_database(env: dict[str, str]) -> None:
    result = _entrypoint("worker", env=env)
    assert result.returncode == 2
    assert "automtl db upgrade" in result.stderr


def test_pass_through_role_creates_a_token(env: dict[str, str]) -> None:
    result = _entrypoint("automtl", "token", "create", "alice", env=env)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) > 20
