"""Per-owner limits: ``automtl_owners.limits`` (JSON; NULL: the server-wide caps).

Revision ID: 0006_owner_limits
Revises: 0005_service
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_owner_limits"
down_revision: str | None = "0005_service"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json_type = sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql")
    with op.batch_alter_table("automtl_owners") as batch:
        batch.add_column(sa.Column("limits", json_type, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("automtl_owners") as batch:
        batch.drop_column("limits")
