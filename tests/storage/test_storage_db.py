"""Engines, URLs, sessions and column types on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from automtl_storage import Database, Job, Owner, OwnerRepository, create_engine_for, normalize_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db:5432/automtl", "postgresql+psycopg://u:p@db:5432/automtl"),
        ("postgres://u@db/automtl", "postgresql+psycopg://u@db/automtl"),
        ("postgresql+psycopg://u@db/automtl", "postgresql+psycopg://u@db/automtl"),
        ("sqlite:///data/automtl.db", "sqlite:///data/automtl.db"),
    ],
)
def test_normalize_url_pins_postgres_to_psycopg3(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_normalize_url_keeps_special_characters_in_password() -> None:
    url = "postgresql://user:p%40ss%25word@db/automtl"
    assert normalize_url(url) == "postgresql+psycopg://user:p%40ss%25word@db/automtl"


@pytest.mark.parametrize("url", ["mysql://u@db/automtl", "oracle://u@db/x"])
def test_normalize_url_refuses_unsupported_backends_and_names_the_supported(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported backend .*sqlite, postgresql"):
        normalize_url(url)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="in-memory SQLite"):
        normalize_url(url)


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path) -> None:
    path = tmp_path / "nested" / "dir" / "automtl.db"
    engine = create_engine_for(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert path.exists(), "the parent directory is created and the file opened"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_engine_uses_psycopg3_with_pre_ping(postgres_database_url: str) -> None:
    plain = postgres_database_url.replace("postgresql+psycopg://", "postgresql://")
    engine = create_engine_for(plain)
    try:
        assert engine.dialect.driver == "psycopg"
        assert engine.pool._pre_ping is True
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_session_commits_on_success_and_rolls_back_on_error(db: Database) -> None:
    with db.session() as session:
        OwnerRepository(session).create("kept")
    with pytest.raises(RuntimeError, match="boom"):
        with db.session() as session:
            OwnerRepository(session).create("discarded")
            session.flush()
            raise RuntimeError("boom")
    with db.session() as session:
        names = session.scalars(select(Owner.name)).all()
    assert names == ["kept"]


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError):
        with db.session() as session:
            session.add(Job(owner_id=12345, name="orphan", spec={}))


def test_datetimes_come_back_timezone_aware_utc(db: Database) -> None:
    plus_two = timezone(timedelta(hours=2))
    created = datetime(2026, 3, 1, 14, 30, 15, 123456, tzinfo=plus_two)
    with db.session() as session:
        owner = Owner(name="tz", created_at=created)
        session.add(owner)
        session.flush()
        owner_id = owner.id
    with db.session() as session:
        loaded = session.get(Owner, owner_id)
        assert loaded is not None
        assert loaded.created_at.utcoffset() == timedelta(0)
        assert loaded.created_at == created
        assert loaded.created_at.hour == 12


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        with db.session() as session:
            session.add(Owner(name="naive", created_at=datetime(2026, 1, 1, 12, 0)))
            session.flush()


def test_database_reports_its_dialect(database_url: str) -> None:
    with Database(database_url) as database:
        assert database.dialect == database_url.split(":")[0].split("+")[0]
        with database.session() as session:
            assert session.execute(text("SELECT 1")).scalar() == 1


def test_database_repr_hides_the_password() -> None:
    database = Database("postgresql://user:secret@db.invalid/automtl")  # no connection made
    assert "secret" not in repr(database) and "user:***@db.invalid" in repr(database)
    assert database.dialect == "postgresql"
    database.dispose()


def test_write_sessions_take_turns_on_sqlite_and_run_side_by_side_on_postgres(
        db: Database) -> None:
    """One write at a time per process on SQLite (its threads queue here rather than poll
    SQLite's lock); PostgreSQL's writers do not wait for each other."""
    import threading

    from automtl_storage import DatabaseBusy

    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with db.write_session() as session:
            OwnerRepository(session).create("first")
            inside.set()
            leave.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(10)
        db.write_timeout_s = 0.2
        if db.dialect == "sqlite":
            with pytest.raises(DatabaseBusy, match="within 0.2 s"):
                with db.write_session() as session:
                    OwnerRepository(session).create("second")
        else:
            with db.write_session() as session:
                OwnerRepository(session).create("second")
    finally:
        leave.set()
        holder.join(10)
    with db.write_session() as session:
        OwnerRepository(session).create("third")
    with pytest.raises(RuntimeError), db.write_session() as session:
        OwnerRepository(session).create("rolled back")
        raise RuntimeError("the write fails")
    with db.session() as session:
        names = set(session.scalars(select(Owner.name)))
    expected = {"first", "third"} | ({"second"} if db.dialect == "postgresql" else set())
    assert names == expected
