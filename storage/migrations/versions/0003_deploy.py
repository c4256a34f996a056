"""Deployment: the workers table (advertised Ray resources) and the Ray node of each trial.

Artifact paths become relative to the artifact root from this revision on; rows written before
keep their absolute paths and are rebased when read (the root is a setting, unknown here).

Revision ID: 0003_deploy
Revises: 0001_initial
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_deploy"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    jsonb = postgresql.JSONB(none_as_null=True)
    return sa.JSON(none_as_null=True).with_variant(jsonb, "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "automtl_workers",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("nodes", _json(), nullable=False),
        sa.Column("ray_address", sa.String(length=255), nullable=True),
        sa.Column("started_at", _time(), nullable=False),
        sa.Column("heartbeat_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automtl_workers")),
    )
    op.create_index(op.f("ix_automtl_workers_heartbeat_at"), "automtl_workers",
                    ["heartbeat_at"])
    with op.batch_alter_table("automtl_trials") as batch:
        batch.add_column(sa.Column("ray_node_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("automtl_trials") as batch:
        batch.drop_column("ray_node_id")
    op.drop_index(op.f("ix_automtl_workers_heartbeat_at"), table_name="automtl_workers")
    op.drop_table("automtl_workers")
