"""The submit's data warnings: ``automtl_jobs.warnings`` (JSON list of text; NULL: a job
submitted before they were stored). POST /jobs answered them once and GET /jobs/{id} lost them.

Revision ID: 0009_job_warnings
Revises: 0008_trial_interrupted
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_job_warnings"
down_revision: str | None = "0008_trial_interrupted"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json_type = sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql")
    with op.batch_alter_table("automtl_jobs") as batch:
        batch.add_column(sa.Column("warnings", json_type, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("automtl_jobs") as batch:
        batch.drop_column("warnings")
