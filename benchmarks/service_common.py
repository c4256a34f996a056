"""Helpers of the service benchmarks: a running ``automtl serve`` with a token
(:func:`running_server`), automtl's code from another checkout (to measure "before" on the main
branch beside "after" on this one), free loopback ports, fresh PostgreSQL schemas.

Every benchmark here talks to 127.0.0.1 only, is bounded in requests and time, and stops the
processes it starts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
#: ``automtl serve`` without its worker; ``{flags}``: extra flags (``--api-workers N``)
SERVE = """
import sys
from automtl.cli import main
sys.exit(main(["serve"{flags}]))
"""
TOKEN = """
import sys
from automtl_storage import Database, OwnerRepository, TokenRepository
with Database(sys.argv[1]) as db, db.session() as s:
    owner = OwnerRepository(s).get_or_create(sys.argv[2])
    _, token = TokenRepository(s).create(owner.id, "bench")
print(token)
"""

#: a prelude that logs each full (generation 2) garbage collection of the serving process to
#: its stderr as ``bench-gc2 <wall-clock start> <seconds>``: a pause of every request at once
GC_LOG = """
import gc as _gc, sys as _sys, time as _time
_gc_start = [0.0, 0.0]
def _gc_log(phase, info):
    if info["generation"] != 2:
        return
    if phase == "start":
        _gc_start[:] = [_time.time(), _time.perf_counter()]
    else:
        print(f"bench-gc2 {_gc_start[0]:.3f} {_time.perf_counter() - _gc_start[1]:.4f}",
              file=_sys.stderr, flush=True)
_gc.callbacks.append(_gc_log)
"""

#: how automtl's folders are imported (pyproject's package-dir mapping)
PACKAGES = {"automtl": "automtl", "search_spaces": "search_spaces",
            "automtl_storage": "storage", "automtl_api": "api"}


def source_prelude(source: Path | None) -> str:
    """Python code that makes ``import automtl_api`` (etc.) load from the checkout ``source``
    instead of the installed one; empty for ``None`` (this checkout)."""
    if source is None:
        return ""
    lines = ["import importlib.util as _u, sys as _s"]
    for name, folder in PACKAGES.items():
        root = Path(source).resolve() / folder
        lines.append(
            f"_spec = _u.spec_from_file_location({name!r}, {str(root / '__init__.py')!r}, "
            f"submodule_search_locations=[{str(root)!r}]); _m = _u.module_from_spec(_spec); "
            f"_s.modules[{name!r}] = _m; _spec.loader.exec_module(_m)")
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_url(base: str) -> tuple[str, str]:
    """A URL on a new, empty schema of the PostgreSQL at ``base`` (created here) and the
    schema's name; drop it with :func:`drop_schema`."""
    import sqlalchemy as sa

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(base: str, schema: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
            **extra}


def wait_healthy(base: str, process: subprocess.Popen[bytes], limit: float = 600.0) -> None:
    """Wait until ``base``'s ``/healthz`` answers 200; raise when ``process`` exits first or
    ``limit`` seconds pass."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode})")
        try:
            if httpx.get(f"{base}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the server did not answer /healthz")


@dataclass
class Server:
    """A running ``automtl serve``: its address, database URL, a bearer token, the process;
    ``log`` is its stderr once stopped (when captured, else empty)."""

    base: str
    database_url: str
    token: str
    process: subprocess.Popen[bytes]
    log: str = ""


@contextmanager
def running_server(db: str, *, pg_url: str = DEFAULT_PG, source: Path | None = None,
                   worker: bool = False, api_workers: int = 1, owner: str = "bench",
                   env: dict[str, str] | None = None, capture_log: bool = False,
                   prefix: str = "automtl-bench-", prelude: str = "") -> Iterator[Server]:
    """``automtl serve`` on a free loopback port, on a SQLite file in a temporary folder
    (``db="sqlite"``) or a fresh schema of the PostgreSQL at ``pg_url``, with a token of
    ``owner``; ``source`` serves another checkout's code, ``worker`` starts serve's own worker
    (default ``--no-worker``), ``api_workers`` > 1 passes ``--api-workers``, ``env`` adds
    ``AUTOMTL_*`` settings, ``prelude`` is Python code run in serve's process first (e.g.
    :data:`GC_LOG`; not in the processes of ``--api-workers`` > 1). On leaving: SIGTERM
    (SIGKILL after 30 s), the schema dropped, the folder removed."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        schema = None
        if db == "postgresql":
            url, schema = postgres_url(pg_url)
        else:
            url = f"sqlite:///{Path(tmp) / 'automtl.db'}"
        port = free_port()
        child = child_env(AUTOMTL_ENV="development", AUTOMTL_DATABASE_URL=url,
                          AUTOMTL_DATA_DIR=str(Path(tmp) / "data"), AUTOMTL_PORT=str(port),
                          AUTOMTL_HOST="127.0.0.1", **(env or {}))
        flags = ([] if worker else ["--no-worker"]) + \
            (["--api-workers", str(api_workers)] if api_workers > 1 else [])
        serve_prelude = source_prelude(source) + prelude
        prelude = source_prelude(source)
        serve = SERVE.format(flags="".join(f", {f!r}" for f in flags))
        process = subprocess.Popen(
            [sys.executable, "-c", serve_prelude + serve], env=child, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE if capture_log else subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        server = None
        try:
            wait_healthy(base, process)
            token = subprocess.run([sys.executable, "-c", prelude + TOKEN, url, owner],
                                   env=child, check=True, capture_output=True,
                                   text=True).stdout.strip().splitlines()[-1]
            server = Server(base, url, token, process)
            yield server
        finally:
            process.terminate()
            try:
                _, err = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                _, err = process.communicate()
            if server is not None and err:
                server.log = err.decode(errors="replace")
            if schema is not None:
                drop_schema(pg_url, schema)
