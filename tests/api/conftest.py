"""API fixtures: settings on a fresh SQLite file per test, a TestClient, tokens, uploads."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from api_support import create_token, make_settings, tiny_csv
from fastapi.testclient import TestClient

from automtl_api.main import create_app
from automtl_api.settings import Settings
from automtl_storage import optuna_storage, upgrade


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session, which ``settings`` copies, with
    Optuna's tables beside ours: the app's start-up opens Optuna's storage, which creates
    them when missing (~0.25 s of DDL per test on two loaded cores); a database the service
    has started on once has them too."""
    path = tmp_path_factory.mktemp("migrated") / "automtl.db"
    upgrade(f"sqlite:///{path}")
    optuna_storage(f"sqlite:///{path}").engine.dispose()
    return path


@pytest.fixture
def settings(tmp_path: Path, migrated_database: Path) -> Settings:
    """Settings on a fresh, migrated SQLite file of this test's own: a copy (SQLite's backup
    API) of the session's migrated file, the same bytes ``upgrade`` would write, without
    running the migrations again for every test."""
    settings = make_settings(tmp_path)
    with closing(sqlite3.connect(migrated_database)) as source, \
            closing(sqlite3.connect(tmp_path / "automtl.db")) as copy:
        source.backup(copy)
    return settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def alice(settings: Settings) -> dict[str, str]:
    return create_token(settings, "alice")


@pytest.fixture
def bob(settings: Settings) -> dict[str, str]:
    return create_token(settings, "bob")


@pytest.fixture
def upload(client: TestClient) -> Callable[..., dict[str, Any]]:
    """Upload a table as ``headers``' owner; returns the response JSON (asserting success)."""

    def _upload(headers: dict[str, str], content: bytes | None = None,
                filename: str = "tiny.csv") -> dict[str, Any]:
        response = client.post("/api/v1/datasets", headers=headers,
                               files={"file": (filename, content or tiny_csv(), "text/csv")})
        assert response.status_code in (200, 201), response.text
        return response.json()

    return _upload
