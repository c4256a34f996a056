"""The automtl tables: owners and their API tokens, datasets, jobs, trials, exports, workers.

A job's Optuna study lives in the same database in Optuna's own RDB tables (``study_name``
links them); these tables never copy Optuna's trial parameters, they keep what the API serves:
the validated spec, status, progress, and per trial the candidate, its metrics and costs.
"""

from __future__ import annotations

import enum
import re
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from automtl_storage.base import Base
from automtl_storage.types import utcnow


class JobStatus(str, enum.Enum):
    """Life cycle of a job: queued -> running -> succeeded | failed | cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class TrialState(str, enum.Enum):
    """State of one trial row, mirroring the Optuna trial states automtl reports."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    PRUNED = "pruned"
    #: stopped before it finished by a cancel, the wall-time budget or a worker shutting down
    #: (Optuna's FAIL with ``automtl:interrupted``): not a failure, and not counted as one
    INTERRUPTED = "interrupted"


def _enum_column(enum_class: type[enum.Enum], name: str) -> Enum:
    """A VARCHAR + CHECK enum column (no native PostgreSQL type to migrate) storing the values."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )


def new_study_name() -> str:
    """A study name that never collides, even with studies left from an earlier database."""
    return f"automtl-{uuid.uuid4().hex}"


def job_study_name(job_id: int, job_name: str) -> str:
    """``automtl-job12-ctr-cvr-1a2b3c4d``: the job's id and name (so optuna-dashboard's study
    list says which job it is) and a random suffix, so a job id reused after a database reset
    never resumes an old study. The name part keeps ``[A-Za-z0-9_.-]``, at most 60 chars."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", job_name).strip("-")[:60] or "job"
    return f"automtl-job{job_id}-{slug}-{uuid.uuid4().hex[:8]}"


class Owner(Base):
    """Someone who owns datasets and jobs; API tokens authenticate as an owner."""

    __tablename__ = "automtl_owners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: this owner's own caps (``max_trials``, ``max_active_jobs``, ...), overriding the
    #: server-wide ``AUTOMTL_MAX_*``; NULL or missing keys: the server's
    limits: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class ApiToken(Base):
    """A bearer token; only the SHA-256 hash of the token is stored, never the token."""

    __tablename__ = "automtl_api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("automtl_owners.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    expires_at: Mapped[datetime | None] = mapped_column(default=None)

    owner: Mapped[Owner] = relationship(lazy="joined")


class Dataset(Base):
    """An uploaded table: where it is stored, its content hash and the schema detected from it."""

    __tablename__ = "automtl_datasets"
    __table_args__ = (Index(None, "owner_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("automtl_owners.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    storage_path: Mapped[str] = mapped_column(String(1024))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    #: ``{"columns": [{"name": ..., "type": ...}, ...], "rows": N}`` as detected at upload
    detected_schema: Mapped[dict[str, Any]]
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A search job: its validated spec, where it is in its life cycle, who runs it, progress."""

    __tablename__ = "automtl_jobs"
    __table_args__ = (
        Index(None, "owner_id", "status", "created_at"),
        Index(None, "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("automtl_owners.id", ondelete="CASCADE"))
    dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("automtl_datasets.id", ondelete="SET NULL"), default=None
    )
    name: Mapped[str] = mapped_column(String(100))
    spec: Mapped[dict[str, Any]]
    status: Mapped[JobStatus] = mapped_column(
        _enum_column(JobStatus, "job_status"), default=JobStatus.QUEUED
    )
    study_name: Mapped[str] = mapped_column(String(255), unique=True, default=new_study_name)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    worker_id: Mapped[str | None] = mapped_column(String(255), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    #: how many times a worker claimed or took over this job
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    error: Mapped[str | None] = mapped_column(Text, default=None)
    trials_finished: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    trials_failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    trials_running: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    front_size: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    hypervolume: Mapped[float | None] = mapped_column(Float, default=None)
    #: the running search's stage (automtl.search.callbacks.STAGES) as its worker last reported
    stage: Mapped[str | None] = mapped_column(String(20), default=None)
    #: within the stage, e.g. ``4/15: trial 12 (mmoe, front) seed 2/3`` while confirming
    stage_detail: Mapped[str | None] = mapped_column(String(200), default=None)
    #: what the submit's data checks found doubtful (POST /jobs answered them; kept for GET)
    warnings: Mapped[list[Any] | None] = mapped_column(default=None)


class Trial(Base):
    """One trial of a job as the API shows it: candidate, metrics, costs, front membership."""

    __tablename__ = "automtl_trials"
    __table_args__ = (
        UniqueConstraint("job_id", "number"),
        Index(None, "job_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("automtl_jobs.id", ondelete="CASCADE"))
    #: Optuna's trial number within the job's study
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[TrialState] = mapped_column(
        _enum_column(TrialState, "trial_state"), default=TrialState.RUNNING
    )
    #: the parameters Optuna sampled, by their hierarchical names
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: the candidate (model, weighting, train config) built from ``params``
    config: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    valid_metrics: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    test_metrics: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    #: objective values as reported to Optuna, by objective name
    objectives: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    num_params: Mapped[int | None] = mapped_column(BigInteger, default=None)
    latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    train_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    total_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    #: the trial's artifact folder, relative to the artifact root (``<study>/trial-<n>``);
    #: rows written before 0003 hold absolute paths, which readers rebase (see
    #: :func:`automtl_storage.paths.resolve_under`)
    artifact_path: Mapped[str | None] = mapped_column(String(1024), default=None)
    #: the Ray node the trial ran on (``ray.get_runtime_context().get_node_id()``)
    ray_node_id: Mapped[str | None] = mapped_column(String(64), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    on_front: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: mean gate weights per task and expert, for MoE topologies
    gate_utilisation: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    #: the epoch at which MO-ASHA stopped a ``pruned`` trial
    pruned_epoch: Mapped[int | None] = mapped_column(Integer, default=None)
    #: rung epoch -> objective values there, for every MO-ASHA rung the trial reached
    rung_values: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class Export(Base):
    """A training bundle exported from one trial of a job."""

    __tablename__ = "automtl_exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("automtl_jobs.id", ondelete="CASCADE"), index=True
    )
    trial_id: Mapped[int] = mapped_column(ForeignKey("automtl_trials.id", ondelete="CASCADE"))
    location: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkerNode(Base):
    """A live ``automtl worker`` and the resources of its Ray cluster, node by node.

    Written by the worker at start and refreshed with its poll loop and job heartbeat; a row
    whose ``heartbeat_at`` is older than the stale timeout belongs to a dead worker. Jobs are
    matched against ``nodes`` (see :mod:`automtl_storage.resources`).
    """

    __tablename__ = "automtl_workers"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    #: ``[{"CPU": 8.0, "GPU": 1.0, ...}, ...]``: one mapping per alive Ray node
    nodes: Mapped[list[Any]]
    #: the Ray address the worker runs trials on (None: a local Ray per job)
    ray_address: Mapped[str | None] = mapped_column(String(255), default=None)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
