"""Repositories: one per aggregate.  Each takes a session and never commits."""

from __future__ import annotations

from automtl_storage.repositories.datasets import DatasetRepository
from automtl_storage.repositories.exports import ExportRepository
from automtl_storage.repositories.jobs import JobProgress, JobRepository, parse_job_status
from automtl_storage.repositories.owners import OwnerRepository, TokenRepository
from automtl_storage.repositories.trials import TrialFields, TrialRepository, parse_trial_state
from automtl_storage.repositories.workers import WorkerRepository

__all__ = [
    "DatasetRepository",
    "ExportRepository",
    "JobProgress",
    "JobRepository",
    "OwnerRepository",
    "TokenRepository",
    "TrialFields",
    "TrialRepository",
    "WorkerRepository",
    "parse_job_status",
    "parse_trial_state",
]
