"""Settings: AUTOMTL_* variables, development defaults, unsafe defaults refused elsewhere."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from automtl.cli import main
from automtl_api.settings import Settings

_VARIABLES = ("AUTOMTL_ENV", "AUTOMTL_DATABASE_URL", "AUTOMTL_DATA_DIR", "AUTOMTL_ARTIFACT_DIR",
              "AUTOMTL_CENSUS_DIR", "AUTOMTL_MAX_UPLOAD_BYTES", "AUTOMTL_RAY_ADDRESS",
              "AUTOMTL_HEARTBEAT_INTERVAL_S", "AUTOMTL_STALE_AFTER_S", "AUTOMTL_PORT",
              "AUTOMTL_ARTIFACT_URL")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_development_defaults_are_a_sqlite_file_under_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.env == "development"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'automtl-data/automtl.db'}"
    assert settings.resolved_artifact_dir == tmp_path / "automtl-data" / "artifacts"
    assert settings.upload_dir == tmp_path / "automtl-data" / "datasets"
    assert settings.ray_address is None and settings.census_dir is None


def test_variables_with_the_automtl_prefix_are_read(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOMTL_DATABASE_URL", "postgresql://u@db/automtl")
    monkeypatch.setenv("AUTOMTL_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("AUTOMTL_CENSUS_DIR", str(tmp_path / "census"))
    monkeypatch.setenv("AUTOMTL_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("AUTOMTL_RAY_ADDRESS", "ray://head:10001")
    settings = Settings()
    assert settings.resolved_database_url == "postgresql+psycopg://u@db/automtl"
    assert settings.data_dir == tmp_path / "d" and settings.census_dir == tmp_path / "census"
    assert settings.max_upload_bytes == 1234 and settings.ray_address == "ray://head:10001"
    child = settings.environment()
    assert child["AUTOMTL_DATABASE_URL"] == "postgresql+psycopg://u@db/automtl"
    assert child["AUTOMTL_CENSUS_DIR"] == str((tmp_path / "census").resolve())
    assert Settings(**{k.removeprefix("AUTOMTL_").lower(): v for k, v in child.items()}) \
        .resolved_database_url == settings.resolved_database_url


@pytest.mark.parametrize("url", [None, "sqlite:////srv/automtl.db"])
def test_production_refuses_sqlite_or_no_database(url, monkeypatch):
    monkeypatch.setenv("AUTOMTL_ENV", "production")
    if url is not None:
        monkeypatch.setenv("AUTOMTL_DATABASE_URL", url)
    with pytest.raises(ValidationError, match="AUTOMTL_DATABASE_URL"):
        Settings()


def test_production_accepts_postgresql(monkeypatch):
    monkeypatch.setenv("AUTOMTL_ENV", "production")
    monkeypatch.setenv("AUTOMTL_DATABASE_URL", "postgresql://automtl@db/automtl")
    assert Settings().resolved_database_url.startswith("postgresql+psycopg://")


def test_a_stale_timeout_below_two_heartbeats_is_refused():
    with pytest.raises(ValidationError, match="AUTOMTL_STALE_AFTER_S .* twice "
                                              "AUTOMTL_HEARTBEAT_INTERVAL_S"):
        Settings(heartbeat_interval_s=5, stale_after_s=8)


def test_unknown_environment_names_are_refused(monkeypatch):
    monkeypatch.setenv("AUTOMTL_ENV", "staging")
    with pytest.raises(ValidationError, match="env"):
        Settings()


def test_an_unsupported_database_is_named():
    with pytest.raises(ValidationError, match="unsupported backend 'mysql'"):
        Settings(database_url="mysql://u@h/db")


@pytest.mark.parametrize("variable, value, words", [
    ("AUTOMTL_ARTIFACT_URL", "nope://bucket/x", ["fsspec cannot open 'nope'"]),
    ("AUTOMTL_ARTIFACT_URL", "not-a-url", ["is not a URL"]),
    ("AUTOMTL_PORT", "70000", ["less than or equal to 65535"]),
])
def test_a_bad_variable_is_named_as_the_user_set_it(variable, value, words, tmp_path,
                                                    monkeypatch, capsys):
    """The command names the environment variable, not the settings field (artifact_url)."""
    monkeypatch.setenv("AUTOMTL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--no-worker"])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"settings: {variable}: ") and all(w in err for w in words), err
    assert variable.removeprefix("AUTOMTL_").lower() + ":" not in err
    assert not (tmp_path / "automtl.db").exists()  # refused before anything was written


def test_a_bad_flag_is_named_as_the_flag(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AUTOMTL_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit):
        main(["serve", "--no-worker", "--port", "0"])
    assert capsys.readouterr().err.startswith("settings: --port: ")
