"""Storage fixtures: a migrated database per test and a few rows to hang others on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from automtl_storage import Database, Owner, OwnerRepository, upgrade


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated, empty database on each backend (its own SQLite file / PostgreSQL database)."""
    upgrade(database_url)
    database = Database(database_url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def owner(db: Database) -> Owner:
    with db.session() as session:
        return OwnerRepository(session).create("alice")
