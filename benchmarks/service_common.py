"""Helpers of the service benchmarks: run automtl's code from another checkout (to measure
"before" on the main branch beside "after" on this one), free loopback ports, fresh
PostgreSQL schemas.

Every benchmark here talks to 127.0.0.1 only, is bounded in requests and time, and stops the
processes it starts.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

#: how automtl's folders are imported (pyproject's package-dir mapping)
PACKAGES = {"automtl": "automtl", "search_spaces": "search_spaces",
            "automtl_storage": "storage", "automtl_api": "api"}


def source_prelude(source: Path | None) -> str:
    """Python code that makes ``import automtl_api`` (etc.) load from the checkout ``source``
    instead of the installed one; empty for ``None`` (this checkout)."""
    if source is None:
        return ""
    lines = ["import importlib.util as _u, sys as _s"]
    for name, folder in PACKAGES.items():
        root = Path(source).resolve() / folder
        lines.append(
            f"_spec = _u.spec_from_file_location({name!r}, {str(root / '__init__.py')!r}, "
            f"submodule_search_locations=[{str(root)!r}]); _m = _u.module_from_spec(_spec); "
            f"_s.modules[{name!r}] = _m; _spec.loader.exec_module(_m)")
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_url(base: str) -> tuple[str, str]:
    """A URL on a new, empty schema of the PostgreSQL at ``base`` (created here) and the
    schema's name; drop it with :func:`drop_schema`."""
    import sqlalchemy as sa

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(base: str, schema: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
            **extra}
