"""automtl's SQL storage: typed SQLAlchemy models (tables ``automtl_*``), engines and sessions
per URL (SQLite in WAL mode or PostgreSQL via psycopg 3), repositories that never commit, and
Alembic migrations that leave Optuna's tables in the same database alone.

Independent of the rest of automtl: nothing here imports ``automtl`` or ``api``.
"""

from __future__ import annotations

from automtl_storage.base import Base
from automtl_storage.db import (
    Database,
    DatabaseBusy,
    connection_limit,
    create_engine_for,
    normalize_url,
    session_factory,
    session_scope,
)
from automtl_storage.migrate import (
    VERSION_TABLE,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from automtl_storage.models import (
    ApiToken,
    Dataset,
    Export,
    Job,
    JobStatus,
    Owner,
    Trial,
    TrialState,
    WorkerNode,
)
from automtl_storage.repositories import (
    DatasetRepository,
    ExportRepository,
    JobRepository,
    OwnerRepository,
    TokenRepository,
    TrialRepository,
    WorkerRepository,
)
from automtl_storage.studies import optuna_storage
from automtl_storage.tokens import generate_token, hash_token
from automtl_storage.types import utcnow

__all__ = [
    "VERSION_TABLE",
    "ApiToken",
    "Base",
    "Database",
    "connection_limit",
    "DatabaseBusy",
    "Dataset",
    "DatasetRepository",
    "Export",
    "ExportRepository",
    "Job",
    "JobRepository",
    "JobStatus",
    "Owner",
    "OwnerRepository",
    "TokenRepository",
    "Trial",
    "TrialRepository",
    "TrialState",
    "WorkerNode",
    "WorkerRepository",
    "create_engine_for",
    "current_revision",
    "downgrade",
    "generate_token",
    "hash_token",
    "head_revision",
    "normalize_url",
    "optuna_storage",
    "session_factory",
    "session_scope",
    "upgrade",
    "utcnow",
]
