"""Alembic environment for automtl's tables only.

Run through :mod:`storage.migrate`, which puts the database URL in ``config.attributes["url"]``.
Our revisions live in ``automtl_alembic_version``; ``include_name``/``include_object`` keep
autogenerate away from every table that is not ours (Optuna's RDB tables and its
``alembic_version`` share the database).  Concurrent upgrades (an API and a worker starting
together) are serialised: a PostgreSQL advisory lock, or SQLite's write lock.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, text

from automtl_storage.base import Base
from automtl_storage.db import create_engine_for
from automtl_storage.migrate import VERSION_TABLE, include_name, include_object

#: arbitrary constant key of the PostgreSQL advisory lock held while migrating
_ADVISORY_LOCK_KEY = 0x6175746F6D746C  # "automtl"

target_metadata = Base.metadata


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_name=include_name,
        include_object=include_object,
        compare_type=True,
        render_as_batch=True,
        **kwargs,
    )


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        # pysqlite leaves DDL outside transactions; take the write lock now so a concurrent
        # upgrade waits (busy timeout) and then finds the version table at head.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def run_migrations_offline() -> None:
    _configure(url=context.config.attributes["url"], literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine_for(context.config.attributes["url"])
    try:
        with engine.connect() as connection:
            with connection.begin():
                _lock(connection)
                _configure(connection=connection)
                with context.begin_transaction():
                    context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
