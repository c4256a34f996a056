"""Shared pytest fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# ---------------------------------------------------------------------------------------------
# databases: empty SQLite and PostgreSQL databases, one per test (storage and api tests)
#
# ``sqlite_database_url``     a fresh SQLite file in the test's tmp dir
# ``postgres_database_url``   a fresh, empty PostgreSQL schema of its own (the URL sets
#                             ``search_path``), in a database created for this test run and
#                             dropped at its end; skips with the reason when no server can be
#                             reached or started
# ``database_url``            parametrised over both, ids ``sqlite`` and ``postgresql``
#
# The server is $AUTOMTL_TEST_POSTGRES_URL (default postgres@127.0.0.1:5432/test, trust auth);
# the fixtures connect to it to CREATE / DROP the run's database.  (A schema per test instead of
# a database per test: PostgreSQL 15 checkpoints on every DROP DATABASE, about a second each.)

POSTGRES_ADMIN_URL = os.environ.get(
    "AUTOMTL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_conninfo(url: str, database: str | None = None) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _postgres_reachable(conninfo: str) -> str | None:
    """``None`` if a connection works, else the error."""
    import psycopg

    try:
        with psycopg.connect(conninfo, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).strip()}"


def _start_local_postgres() -> None:
    """Start the Debian cluster if PostgreSQL is installed but stopped."""
    versions = Path("/etc/postgresql")
    if shutil.which("pg_ctlcluster") is None or not versions.is_dir():
        return
    for version in sorted(p.name for p in versions.iterdir()):
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            capture_output=True, timeout=60, check=False,
        )
    time.sleep(1.0)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The URL of a reachable PostgreSQL server's admin database, or skip with the reason."""
    conninfo = _postgres_conninfo(POSTGRES_ADMIN_URL)
    error = _postgres_reachable(conninfo)
    if error is not None:
        _start_local_postgres()
        for _ in range(10):
            error = _postgres_reachable(conninfo)
            if error is None:
                break
            time.sleep(0.5)
    if error is not None:
        pytest.skip(f"PostgreSQL not available at {POSTGRES_ADMIN_URL}: {error}")
    return POSTGRES_ADMIN_URL


@pytest.fixture(scope="session")
def postgres_test_database(postgres_admin_url: str) -> Iterator[str]:
    """A PostgreSQL database for this test run (``postgresql+psycopg://`` URL), dropped after."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"automtl_test_{uuid.uuid4().hex[:16]}"
    admin = _postgres_conninfo(postgres_admin_url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_admin_url).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_database_url(postgres_test_database: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL schema: the URL's ``search_path`` makes it the default schema
    of every connection, so tables (ours and Optuna's) land there.  Dropped after the test."""
    import psycopg
    from sqlalchemy.engine import make_url

    schema = f"test_{uuid.uuid4().hex[:16]}"
    conninfo = _postgres_conninfo(postgres_test_database)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(postgres_test_database).update_query_dict(
        {"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            # a connection left open by the test would block the drop; the run's database
            # is dropped WITH (FORCE) at the end anyway
            connection.execute("SET lock_timeout = '10s'")
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_database_url(tmp_path: Path) -> str:
    """A fresh SQLite file URL in the test's tmp dir (the file is created on first connect)."""
    return f"sqlite:///{tmp_path / 'automtl.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each supported backend in turn."""
    fixture = {"sqlite": "sqlite_database_url", "postgresql": "postgres_database_url"}
    return request.getfixturevalue(fixture[request.param])


# ---------------------------------------------------------------------------------------------
# ---------------------------------------------------------------------------------------------
# Optuna's migration scripts, parsed once per test session
#
# Every ``optuna.storages.RDBStorage`` (the service opens one per app, the search one per run)
# checks its schema version against Optuna's Alembic scripts, and Optuna builds a new Alembic
# ``ScriptDirectory`` for each check: ~40 revision files executed again, about 0.25 s per
# storage on two loaded cores, most of an API test's set-up.  The scripts are files of the
# installed Optuna and cannot change during a run, so one parsed ScriptDirectory serves every
# check; the checks themselves (version read from the database, compared with the head) still
# run.  Where Optuna no longer has this private hook the fixture changes nothing.


@pytest.fixture(autouse=True, scope="session")
def optuna_alembic_scripts_parsed_once() -> Iterator[None]:
    from optuna.storages._rdb import storage as rdb

    manager = getattr(rdb, "_VersionManager", None)
    original = getattr(manager, "_create_alembic_script", None)
    if manager is None or original is None:
        yield
        return
    parsed: list[object] = []

    def create_alembic_script(self: object) -> object:
        if not parsed:
            parsed.append(original(self))
        return parsed[0]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(manager, "_create_alembic_script", create_alembic_script)
        yield


# ---------------------------------------------------------------------------------------------
# torch's intra-op thread count: one thread for tiny models, always restored
#
# ``one_torch_thread``  one intra-op thread for the test (tiny models: more threads only add
#                       contention on shared cores), the previous count restored after
# A test that changes the count and leaves it fails at teardown (the count is put back first):
# every later test of the process would otherwise run with its setting.  Checked only where
# torch is already imported, so tests that never touch torch pay nothing.


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def thread_count_put_back() -> Iterator[None]:
    """For tests of code that sets torch's thread count by design (a trial sets its process's
    count to ``cpus_per_trial``: in a Ray worker that process is the trial's own; a benchmark
    sets its ``--threads``): the count is put back before the check below."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None and before is not None:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def torch_threads_restored(request: pytest.FixtureRequest) -> Iterator[None]:
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    yield
    if torch is None or before is None:
        return
    after = torch.get_num_threads()
    if after != before:
        torch.set_num_threads(before)
        pytest.fail(f"{request.node.nodeid} left torch.set_num_threads at {after} (was "
                    f"{before}): use the one_torch_thread fixture, which restores it")
