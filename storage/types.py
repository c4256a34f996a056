"""Column types that behave the same on SQLite and PostgreSQL.

``UTCDateTime`` stores timezone-aware UTC datetimes (``timestamptz`` on PostgreSQL, naive UTC text
on SQLite, which has no time zones) and always returns aware UTC values, so comparisons and
arithmetic never mix naive and aware datetimes.  ``JSONType`` is SQLAlchemy's portable JSON, with
JSONB on PostgreSQL.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

UTC = timezone.utc


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime column that only accepts aware datetimes and returns aware UTC ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware one")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite stores text; naive UTC keeps one format, so text order is time order.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type() -> TypeEngine[Any]:
    """JSON on every backend, JSONB on PostgreSQL; Python ``None`` is stored as SQL NULL."""
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


E = TypeVar("E", bound=enum.Enum)


def parse_enum(enum_class: type[E], value: E | str, field: str, label: str) -> E:
    """``value`` as a member of ``enum_class``; an unknown one raises an error naming ``field``
    and listing the valid values."""
    try:
        return enum_class(value)
    except ValueError:
        valid = ", ".join(str(member.value) for member in enum_class)
        raise ValueError(f"{field}: unknown {label} {value!r}; valid: {valid}") from None
