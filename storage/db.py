"""Engines and sessions per database URL: SQLite (WAL) by default, PostgreSQL via psycopg 3.

Nothing here is module-level state: a :class:`Database` holds one engine and its sessionmaker,
and whoever opens a session (a request, the worker loop) commits it; repositories never do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

#: seconds a SQLite connection waits for the write lock before "database is locked"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_SUPPORTED = ("sqlite", "postgresql")


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


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(
                f"SQLite refused WAL journal mode (got {mode!r}); the database file must be on "
                "a local filesystem"
            )
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def create_engine_for(url: str | URL, **engine_kwargs: Any) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with a busy timeout and foreign keys on (its
    parent directory is created); PostgreSQL through psycopg 3 with ``pool_pre_ping``."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        if not parsed.database.startswith("file:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **engine_kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
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

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def session(self) -> AbstractContextManager[Session]:
        """``with db.session() as s:`` commits on success, rolls back on error."""
        return session_scope(self.sessionmaker)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"Database({make_url(self.url)!r})"
