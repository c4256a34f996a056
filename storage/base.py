"""The declarative base of every automtl table.

A naming convention gives every index and constraint a stable, predictable name, so Alembic
migrations can refer to them on both SQLite and PostgreSQL.  All tables are prefixed
``automtl_`` so they can share a database with Optuna's RDB storage.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from automtl_storage.types import UTCDateTime, json_type

TABLE_PREFIX = "automtl_"

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base: naming convention, aware UTC datetimes and portable JSON by default."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: json_type(),
        list[Any]: json_type(),
    }
