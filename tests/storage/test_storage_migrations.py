"""Alembic migrations of our tables, side by side with Optuna's RDB storage."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from automtl.cli import main as automtl_main
from automtl_storage import (
    VERSION_TABLE,
    Base,
    create_engine_for,
    current_revision,
    downgrade,
    head_revision,
    optuna_storage,
    upgrade,
)
from automtl_storage.migrate import include_name, include_object, is_up_to_date

OUR_TABLES = set(Base.metadata.tables)
REPO_ROOT = Path(__file__).resolve().parents[2]


def _tables(url: str) -> set[str]:
    engine = create_engine_for(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _scalar(url: str, sql: str) -> Any:
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def _create_optuna_study(url: str, name: str = "dashboard-study") -> None:
    """A two-objective study with three finished trials, through Optuna's public API."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rdb = optuna_storage(url)
    study = optuna.create_study(storage=rdb, study_name=name,
                                directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("x", 0.0, 1.0), t.suggest_int("n", 1, 4)),
                   n_trials=3)
    rdb.engine.dispose()


def _optuna_snapshot(url: str, name: str = "dashboard-study") -> list[tuple[Any, ...]]:
    rdb = optuna_storage(url)
    try:
        study = optuna.load_study(study_name=name, storage=rdb)
        return [(t.number, t.state, t.params, t.values, t.datetime_start)
                for t in study.get_trials()]
    finally:
        rdb.engine.dispose()


def test_upgrade_from_empty_creates_our_tables_and_version_table(database_url: str) -> None:
    assert current_revision(database_url) is None
    upgrade(database_url)
    tables = _tables(database_url)
    assert tables == OUR_TABLES | {VERSION_TABLE}
    assert "alembic_version" not in tables, "Optuna's version table name stays free"
    head = head_revision()
    assert current_revision(database_url) == head
    assert _scalar(database_url, f"SELECT version_num FROM {VERSION_TABLE}") == head
    upgrade(database_url)  # a second upgrade is a no-op
    assert _tables(database_url) == OUR_TABLES | {VERSION_TABLE}


def test_migrated_schema_matches_the_models_and_ignores_optuna(database_url: str) -> None:
    _create_optuna_study(database_url)
    upgrade(database_url)
    engine = create_engine_for(database_url)
    try:
        with engine.connect() as connection:
            filtered = MigrationContext.configure(connection, opts={
                "include_name": include_name, "include_object": include_object,
                "compare_type": True, "target_metadata": Base.metadata,
            })
            assert compare_metadata(filtered, Base.metadata) == []
            unfiltered = MigrationContext.configure(connection, opts={"compare_type": True})
            removed = {diff[1].name for diff in compare_metadata(unfiltered, Base.metadata)
                       if isinstance(diff, tuple) and diff[0] == "remove_table"}
    finally:
        engine.dispose()
    # without the filter autogenerate would drop Optuna's tables: the filter is what saves them
    assert {"studies", "trials", "trial_params", "version_info"} <= removed


def test_upgrade_leaves_an_existing_optuna_study_alone(database_url: str) -> None:
    _create_optuna_study(database_url)
    optuna_tables = _tables(database_url)
    optuna_revision = _scalar(database_url, "SELECT version_num FROM alembic_version")
    before = _optuna_snapshot(database_url)
    assert len(before) == 3

    upgrade(database_url)

    assert _tables(database_url) == optuna_tables | OUR_TABLES | {VERSION_TABLE}
    assert _scalar(database_url, "SELECT version_num FROM alembic_version") == optuna_revision
    assert _scalar(database_url, "SELECT count(*) FROM alembic_version") == 1
    assert _optuna_snapshot(database_url) == before
    assert current_revision(database_url) == head_revision()


def test_optuna_can_create_its_tables_after_ours(database_url: str) -> None:
    upgrade(database_url)
    _create_optuna_study(database_url)
    assert len(_optuna_snapshot(database_url)) == 3
    assert OUR_TABLES | {VERSION_TABLE, "studies", "trials", "alembic_version"} <= _tables(
        database_url)
    assert current_revision(database_url) == head_revision()
    upgrade(database_url)  # and upgrading again still works beside Optuna's tables
    assert current_revision(database_url) == head_revision()


def test_downgrade_to_base_removes_only_our_tables(database_url: str) -> None:
    _create_optuna_study(database_url)
    optuna_tables = _tables(database_url)
    optuna_revision = _scalar(database_url, "SELECT version_num FROM alembic_version")
    before = _optuna_snapshot(database_url)
    upgrade(database_url)

    downgrade(database_url, "base")

    tables = _tables(database_url)
    assert not (tables & OUR_TABLES)
    assert tables - {VERSION_TABLE} == optuna_tables
    assert current_revision(database_url) is None
    assert _scalar(database_url, "SELECT version_num FROM alembic_version") == optuna_revision
    assert _optuna_snapshot(database_url) == before


def test_concurrent_upgrades_from_two_processes_both_succeed(database_url: str) -> None:
    """The API and a worker may both migrate at start; the second waits, then finds head."""
    code = "import sys; from automtl_storage import upgrade; upgrade(sys.argv[1])"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    processes = [subprocess.Popen([sys.executable, "-c", code, database_url], env=env,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [process.communicate(timeout=120)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], errors
    assert current_revision(database_url) == head_revision()
    assert _scalar(database_url, f"SELECT count(*) FROM {VERSION_TABLE}") == 1


def test_cli_db_upgrade_and_current(database_url: str, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert automtl_main(["db", "current", "--url", database_url]) == 0
    assert "current <none>" in capsys.readouterr().out

    head = head_revision()
    assert automtl_main(["db", "upgrade", "--url", database_url]) == 0
    assert f"<empty> -> {head}" in capsys.readouterr().out
    assert current_revision(database_url) == head

    monkeypatch.setenv("AUTOMTL_DATABASE_URL", database_url)
    assert automtl_main(["db", "upgrade"]) == 0
    assert f"already at {head}" in capsys.readouterr().out
    assert automtl_main(["db", "current"]) == 0
    assert f"current {head}, head {head} (up to date)" in capsys.readouterr().out


def test_the_search_migration_adds_the_pruned_trial_columns_and_reverts(
        database_url: str) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from automtl_storage.migrate import alembic_config

    upgrade(database_url, "0001_initial")
    upgrade(database_url, "0004_search")
    engine = create_engine_for(database_url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("automtl_trials")}
    finally:
        engine.dispose()
    assert {"pruned_epoch", "rung_values"} <= columns
    command.downgrade(alembic_config(database_url), "0001_initial")
    engine = create_engine_for(database_url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("automtl_trials")}
    finally:
        engine.dispose()
    assert not {"pruned_epoch", "rung_values"} & columns


def test_cli_db_without_a_url_names_the_option_and_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTOMTL_DATABASE_URL", raising=False)
    assert automtl_main(["db", "upgrade"]) == 2
    assert "pass --db or set AUTOMTL_DATABASE_URL" in capsys.readouterr().err


def test_a_worker_on_an_old_schema_prints_an_upgrade_command_that_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's hint names the database, so running it as printed upgrades that file."""
    import shlex

    monkeypatch.delenv("AUTOMTL_DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert automtl_main(["worker", "--db", url]) == 2
    hint = capsys.readouterr().err
    command = hint.split("`")[1]
    assert command == f"automtl db upgrade --db {url}", hint
    assert automtl_main(shlex.split(command)[1:]) == 0
    assert is_up_to_date(url)


def test_cli_db_upgrade_reports_an_unreachable_database_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql://nobody:secret@127.0.0.1:1/none?connect_timeout=2"
    assert automtl_main(["db", "upgrade", "--url", url]) == 1
    err = capsys.readouterr().err
    assert "upgrade failed" in err and "nobody:***@127.0.0.1:1" in err
    assert "secret" not in err
