"""Apply automtl's Alembic migrations from code, for an installed package or a checkout.

The Alembic config is built here (no ``alembic.ini`` in the working directory is needed) and
points at the packaged ``storage/migrations``.  Migrations own only the ``automtl_*`` tables and
record their revision in ``automtl_alembic_version``, so Optuna's tables and its own
``alembic_version`` in the same database are left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, make_url

import automtl_storage.models  # noqa: F401  (registers every table on Base.metadata)
from automtl_storage.base import Base
from automtl_storage.db import create_engine_for, normalize_url, sqlite_file, sqlite_lock

#: Alembic's version table for our migrations (Optuna's RDB storage uses ``alembic_version``)
VERSION_TABLE = "automtl_alembic_version"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic ``include_name`` hook: reflect only our tables (never Optuna's)."""
    if type_ == "table":
        return name in Base.metadata.tables
    return True


def include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                   compare_to: Any) -> bool:
    """Alembic ``include_object`` hook: compare only our tables and what belongs to them."""
    if type_ == "table":
        return name in Base.metadata.tables
    table = getattr(obj, "table", None)
    if table is not None:
        return table.name in Base.metadata.tables
    return True


def alembic_config(url: str | URL) -> Config:
    """An Alembic config for ``url`` and our packaged migration scripts.

    The URL travels in ``config.attributes`` rather than the ini options, so characters such as
    ``%`` in a password need no escaping."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["url"] = normalize_url(url)
    return config


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (default: the newest).

    On SQLite the migration runs under the file's inter-process lock
    (:func:`automtl_storage.db.sqlite_lock`), so processes starting together migrate one after
    the other (the later ones find the schema current) instead of failing with "database is
    locked"."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database is not None:
        Path(sqlite_file(parsed.database)).expanduser().parent.mkdir(parents=True,
                                                                      exist_ok=True)
        with sqlite_lock(sqlite_file(parsed.database)):
            # processes that waited for the lock find the work done: no second Alembic run
            if revision == "head" and current_revision(url) == head_revision():
                return
            command.upgrade(alembic_config(url), revision)
        return
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | URL, revision: str) -> None:
    """Migrate down to ``revision``; ``"base"`` drops every automtl table (Optuna's stay)."""
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The newest revision shipped with this package."""
    head = ScriptDirectory.from_config(alembic_config("sqlite:///unused.db")).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration scripts found in {MIGRATIONS_DIR}")
    return head


def current_revision(url: str | URL) -> str | None:
    """The revision the database is at; ``None`` if our migrations were never applied (or the
    SQLite file does not exist yet, which is then not created)."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database is not None:
        if not parsed.database.startswith("file:") and not Path(parsed.database).exists():
            return None
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE}
            )
            return context.get_current_revision()
    finally:
        engine.dispose()


def is_up_to_date(url: str | URL) -> bool:
    """Whether the database is at the newest revision shipped with this package."""
    return current_revision(url) == head_revision()
