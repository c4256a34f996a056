"""Engines and sessions per database URL: SQLite (WAL) by default, PostgreSQL via psycopg 3.

Nothing here is module-level state: a :class:`Database` holds one engine and its sessionmaker,
and whoever opens a session (a request, the worker loop) commits it; repositories never do.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

#: seconds a SQLite connection waits for the write lock before "database is locked"
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: seconds a process waits for the start-up lock: its holder only switches WAL or migrates, but
#: many processes starting at once on a loaded machine queue behind each other (the lock is an
#: flock, released when its holder dies, so a crashed holder never blocks the others)
SQLITE_LOCK_TIMEOUT_S = 600.0
_SUPPORTED = ("sqlite", "postgresql")


def connection_limit(url: str | URL) -> tuple[int, str] | None:
    """How many connections the PostgreSQL server at ``url`` takes from ordinary roles, and
    how that was found (``max_connections`` less ``superuser_reserved_connections`` and, from
    PostgreSQL 16, ``reserved_connections``); ``None`` for SQLite (no connection limit).
    Opens and closes one connection; raises SQLAlchemy's ``OperationalError`` when the server
    cannot be reached."""
    from sqlalchemy import text

    normalized = normalize_url(url)
    if make_url(normalized).get_backend_name() != "postgresql":
        return None
    engine = create_engine(normalized, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            values = [connection.execute(text(f"SELECT current_setting('{name}', true)"))
                      .scalar() for name in _RESERVED]
    finally:
        engine.dispose()
    counts = [int(v) if v not in (None, "") else 0 for v in values]
    explained = f"max_connections {counts[0]}" + "".join(
        f" - {c} {name}" for name, c in zip(_RESERVED[1:], counts[1:], strict=True) if c)
    return counts[0] - sum(counts[1:]), explained


#: PostgreSQL's settings behind :func:`connection_limit` (the first less the others)
_RESERVED = ("max_connections", "superuser_reserved_connections", "reserved_connections")


class DatabaseBusy(TimeoutError):
    """A write waited longer than the busy timeout for its turn at SQLite's write lock."""


def normalize_url(url: str | URL) -> str:
    """Pin PostgreSQL URLs to psycopg 3 (``postgresql://`` and ``postgres://`` become
    ``postgresql+psycopg://``); refuse backends automtl does not support."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in _SUPPORTED:
        raise ValueError(
            f"database URL: unsupported backend {backend!r}; use one of {', '.join(_SUPPORTED)}"
        )
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ValueError(
            "database URL: in-memory SQLite is not shared between connections or processes; "
            "use a file, e.g. sqlite:///automtl-data/automtl.db"
        )
    return parsed.render_as_string(hide_password=False)


def sqlite_lock(database: str) -> FileLock:
    """An inter-process lock beside the SQLite file ``database`` (``<file>.lock``).

    Switching a new file to WAL and applying migrations take SQLite's exclusive lock, which
    SQLite does not wait for with its busy handler in every case: two processes opening the
    same new file at once (the API and a worker starting together) could fail with
    "database is locked". Whoever holds this lock does those steps; the others wait for it."""
    path = Path(database).expanduser()
    # one instance per file in a process (is_singleton), so it is re-entrant: a migration
    # holding it opens connections whose first use takes it again
    return FileLock(str(path.with_name(path.name + ".lock")), timeout=SQLITE_LOCK_TIMEOUT_S,
                    is_singleton=True)


def _sqlite_pragmas(database: str) -> Any:
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            # WAL is persistent in the file: only its first opener switches it, under the lock
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                with sqlite_lock(database):
                    mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise RuntimeError(
                    f"SQLite refused WAL journal mode (got {mode!r}); the database file must "
                    "be on a local filesystem"
                )
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    return on_connect


def sqlite_file(database: str) -> str:
    """The file path of a SQLite database (``file:`` URIs without their query)."""
    if database.startswith("file:"):
        return database.removeprefix("file:").split("?", 1)[0]
    return database


def create_engine_for(url: str | URL, **engine_kwargs: Any) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with a busy timeout and foreign keys on (its
    parent directory is created); PostgreSQL through psycopg 3 with ``pool_pre_ping``."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        if not parsed.database.startswith("file:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **engine_kwargs)
        event.listen(engine, "connect", _sqlite_pragmas(sqlite_file(parsed.database)))
        return engine
    engine_kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **engine_kwargs)


def session_factory(url: str | URL, **engine_kwargs: Any) -> sessionmaker[Session]:
    """A sessionmaker bound to a new engine for ``url``."""
    return sessionmaker(bind=create_engine_for(url, **engine_kwargs), expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class Database:
    """One database: its URL, engine and sessionmaker.  Close it with :meth:`dispose`.

    Sessions do not expire objects on commit, so rows returned from a ``with db.session()``
    block stay readable after it (detached, no lazy loads)."""

    def __init__(self, url: str | URL, **engine_kwargs: Any) -> None:
        self.url = normalize_url(url)
        self.engine = create_engine_for(self.url, **engine_kwargs)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._write_turn = threading.Lock()
        #: seconds :meth:`write_session` waits for its turn on SQLite
        self.write_timeout_s = SQLITE_BUSY_TIMEOUT_MS / 1000

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def session(self) -> AbstractContextManager[Session]:
        """``with db.session() as s:`` commits on success, rolls back on error."""
        return session_scope(self.sessionmaker)

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session for one short write transaction (commits on success, rolls back on error).

        SQLite has one write lock per file. Threads of one process that each wait for it with
        SQLite's busy handler poll it with sleeps of up to 100 ms, so under a stream of writes
        an unlucky one loses for the whole busy timeout and fails with "database is locked"
        (20 concurrent ``POST /jobs``: p99 21-31 s, 500s). Here they take turns on a lock of
        this process, woken as soon as the previous write commits. Other processes (workers,
        the other API processes of ``automtl serve --api-workers N``) meet at SQLite's own
        lock, each with the busy timeout: the driver begins a transaction at its first write
        (reads before it run outside one), so a write waits for the lock instead of failing
        on a stale read snapshot. PostgreSQL writes run side by side, unserialised.

        Raises :class:`DatabaseBusy` when the turn does not come within ``write_timeout_s``
        (SQLite's busy timeout, 30 s)."""
        if self.dialect != "sqlite":
            with self.session() as session:
                yield session
            return
        if not self._write_turn.acquire(timeout=self.write_timeout_s):
            raise DatabaseBusy("no turn to write to the database within "
                               f"{self.write_timeout_s:g} s")
        try:
            with self.session() as session:
                yield session
        finally:
            self._write_turn.release()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"Database({make_url(self.url)!r})"
