"""Repositories: one per aggregate.  Each takes a session and never commits."""

from __future__ import annotations

from storage.repositories.datasets import DatasetRepository
from storage.repositories.exports import ExportRepository
from storage.repositories.jobs import JobProgress, JobRepository, parse_job_status
from storage.repositories.owners import OwnerRepository, TokenRepository
from storage.repositories.trials import TrialFields, TrialRepository, parse_trial_state

__all__ = [
    "DatasetRepository",
    "ExportRepository",
    "JobProgress",
    "JobRepository",
    "OwnerRepository",
    "TokenRepository",
    "TrialFields",
    "TrialRepository",
    "parse_job_status",
    "parse_trial_state",
]
