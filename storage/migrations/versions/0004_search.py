"""Search (issue 14): MO-ASHA rung values and the epoch a pruned trial reached.

Revision ID: 0004_search
Revises: 0003_deploy
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_search"
down_revision: str | None = "0003_deploy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    jsonb = postgresql.JSONB(none_as_null=True)
    return sa.JSON(none_as_null=True).with_variant(jsonb, "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("automtl_trials") as batch:
        batch.add_column(sa.Column("pruned_epoch", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rung_values", _json(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("automtl_trials") as batch:
        batch.drop_column("rung_values")
        batch.drop_column("pruned_epoch")
