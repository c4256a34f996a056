"""Optuna's RDB storage on the automtl database, so a job's study sits beside its rows and
``optuna-dashboard DATABASE_URL`` opens it.  Only Optuna's public API is used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from automtl_storage.db import SQLITE_BUSY_TIMEOUT_MS, normalize_url

if TYPE_CHECKING:
    from optuna.storages import RDBStorage


def optuna_storage(url: str, **kwargs: Any) -> RDBStorage:
    """``optuna.storages.RDBStorage`` on ``url`` (normalised like ours: psycopg 3 for
    PostgreSQL).  SQLite connections wait for the write lock instead of failing, since our
    writes and Optuna's share one file; PostgreSQL connections are pre-pinged."""
    from optuna.storages import RDBStorage

    normalized = normalize_url(url)
    engine_kwargs: dict[str, Any] = dict(kwargs.pop("engine_kwargs", None) or {})
    if make_url(normalized).get_backend_name() == "sqlite":
        connect_args = dict(engine_kwargs.get("connect_args", {}))
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        engine_kwargs["connect_args"] = connect_args
    else:
        engine_kwargs.setdefault("pool_pre_ping", True)
    return RDBStorage(normalized, engine_kwargs=engine_kwargs, **kwargs)
