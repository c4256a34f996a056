"""The running search's stage: ``automtl_jobs.stage`` and ``stage_detail`` (NULL: none reported).

Revision ID: 0007_job_stage
Revises: 0006_owner_limits
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_job_stage"
down_revision: str | None = "0006_owner_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("automtl_jobs") as batch:
        batch.add_column(sa.Column("stage", sa.String(20), nullable=True))
        batch.add_column(sa.Column("stage_detail", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("automtl_jobs") as batch:
        batch.drop_column("stage_detail")
        batch.drop_column("stage")
