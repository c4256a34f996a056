"""Initial schema: owners, API tokens, datasets, jobs, trials, exports.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
TRIAL_STATES = ("running", "complete", "failed", "pruned")


def _json() -> sa.types.TypeEngine[Any]:
    jsonb = postgresql.JSONB(none_as_null=True)
    return sa.JSON(none_as_null=True).with_variant(jsonb, "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _status(values: tuple[str, ...], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    op.create_table(
        "automtl_owners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automtl_owners")),
        sa.UniqueConstraint("name", name=op.f("uq_automtl_owners_name")),
    )
    op.create_table(
        "automtl_api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("last_used_at", _time(), nullable=True),
        sa.Column("revoked", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["automtl_owners.id"], ondelete="CASCADE",
            name=op.f("fk_automtl_api_tokens_owner_id_automtl_owners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automtl_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_automtl_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_automtl_api_tokens_owner_id"), "automtl_api_tokens", ["owner_id"])

    op.create_table(
        "automtl_datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("storage_path", sa.String(length=1024), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("detected_schema", _json(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["automtl_owners.id"], ondelete="CASCADE",
            name=op.f("fk_automtl_datasets_owner_id_automtl_owners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automtl_datasets")),
    )
    op.create_index(op.f("ix_automtl_datasets_content_hash"), "automtl_datasets",
                    ["content_hash"])
    op.create_index(op.f("ix_automtl_datasets_owner_id_created_at"), "automtl_datasets",
                    ["owner_id", "created_at"])

    op.create_table(
        "automtl_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("status", _status(JOB_STATUSES, "job_status"), nullable=False),
        sa.Column("study_name", sa.String(length=255), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
        sa.Column("worker_id", sa.String(length=255), nullable=True),
        sa.Column("heartbeat_at", _time(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("trials_finished", sa.Integer(), server_default="0", nullable=False),
        sa.Column("trials_failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("trials_running", sa.Integer(), server_default="0", nullable=False),
        sa.Column("front_size", sa.Integer(), server_default="0", nullable=False),
        sa.Column("hypervolume", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["automtl_owners.id"], ondelete="CASCADE",
            name=op.f("fk_automtl_jobs_owner_id_automtl_owners"),
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["automtl_datasets.id"], ondelete="SET NULL",
            name=op.f("fk_automtl_jobs_dataset_id_automtl_datasets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automtl_jobs")),
        sa.UniqueConstraint("study_name", name=op.f("uq_automtl_jobs_study_name")),
    )
    op.create_index(op.f("ix_automtl_jobs_owner_id_status_created_at"), "automtl_jobs",
                    ["owner_id", "status", "created_at"])
    op.create_index(op.f("ix_automtl_jobs_status_created_at"), "automtl_jobs",
                    ["status", "created_at"])

    op.create_table(
        "automtl_trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", _status(TRIAL_STATES, "trial_state"), nullable=False),
        sa.Column("params", _json(), nullable=False),
        sa.Column("config", _json(), nullable=True),
        sa.Column("valid_metrics", _json(), nullable=True),
        sa.Column("test_metrics", _json(), nullable=True),
        sa.Column("objectives", _json(), nullable=True),
        sa.Column("num_params", sa.BigInteger(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("train_seconds", sa.Float(), nullable=True),
        sa.Column("total_seconds", sa.Float(), nullable=True),
        sa.Column("artifact_path", sa.String(length=1024), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("on_front", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("gate_utilisation", _json(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("finished_at", _time(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["automtl_jobs.id"], ondelete="CASCADE",
            name=op.f("fk_automtl_trials_job_id_automtl_jobs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automtl_trials")),
        sa.UniqueConstraint("job_id", "number", name=op.f("uq_automtl_trials_job_id_number")),
    )
    op.create_index(op.f("ix_automtl_trials_job_id_state"), "automtl_trials",
                    ["job_id", "state"])

    op.create_table(
        "automtl_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=1024), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["automtl_jobs.id"], ondelete="CASCADE",
            name=op.f("fk_automtl_exports_job_id_automtl_jobs"),
        ),
        sa.ForeignKeyConstraint(
            ["trial_id"], ["automtl_trials.id"], ondelete="CASCADE",
            name=op.f("fk_automtl_exports_trial_id_automtl_trials"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automtl_exports")),
    )
    op.create_index(op.f("ix_automtl_exports_job_id"), "automtl_exports", ["job_id"])


def downgrade() -> None:
    op.drop_table("automtl_exports")
    op.drop_table("automtl_trials")
    op.drop_table("automtl_jobs")
    op.drop_table("automtl_datasets")
    op.drop_table("automtl_api_tokens")
    op.drop_table("automtl_owners")
