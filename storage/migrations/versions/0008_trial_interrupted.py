"""Trial state ``interrupted``: a trial a cancel, the wall-time budget or a worker shutting down
stopped before it finished. It was stored ``failed``, so a cancel counted as a failure.

Revision ID: 0008_trial_interrupted
Revises: 0007_job_stage
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_trial_interrupted"
down_revision: str | None = "0007_job_stage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATES = ("running", "complete", "failed", "pruned")
NEW_STATES = (*OLD_STATES, "interrupted")
CONSTRAINT = "ck_automtl_trials_trial_state"


def _states(values: tuple[str, ...]) -> None:
    with op.batch_alter_table("automtl_trials") as batch:
        batch.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch.create_check_constraint(op.f(CONSTRAINT), sa.column("state").in_(values))


def upgrade() -> None:
    _states(NEW_STATES)
    # rows stored before: a failed trial whose error says it was interrupted
    op.execute("UPDATE automtl_trials SET state = 'interrupted' "
               "WHERE state = 'failed' AND error LIKE 'interrupted before it finished%'")


def downgrade() -> None:
    op.execute("UPDATE automtl_trials SET state = 'failed' WHERE state = 'interrupted'")
    _states(OLD_STATES)
