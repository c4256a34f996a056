"""``/jobs``: submit a search job, list and read jobs, cancel one."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query

from automtl_api.deps import Offset, OwnedJobDep, OwnerDep, SessionDep, SettingsDep
from automtl_api.errors import ApiError
from automtl_api.schemas import BODY_ERRORS, ErrorResponse, JobDetail, JobPage, JobRead
from automtl_api.submission import validate_submission
from automtl_storage import JobRepository, JobStatus

router = APIRouter(prefix="/jobs", tags=["jobs"],
                   responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}})

StatusFilter = Literal["queued", "running", "succeeded", "failed", "cancelled"]

_EXAMPLE = {
    "name": "ctr-cvr",
    "dataset": {"id": "1"},
    "tasks": [{"name": "click", "type": "binary", "metric": "auc"},
              {"name": "purchase", "type": "binary", "metric": "auc"}],
    "search_space": {"preset": "default"},
    "budget": {"trials": 20, "epochs": 3},
}


@router.post("", status_code=202, response_model=JobRead,
             responses={**BODY_ERRORS,
                        422: {"model": ErrorResponse,
                              "description": "the spec is invalid: every bad field's path"}})
def submit_job(
    document: Annotated[dict[str, Any], Body(
        description="A job spec (see automtl.jobspec.JobSpec). `dataset` is `{id: N}` (an "
                    "upload of yours) or `{builtin: synthetic | census-income}`; never a path.",
        examples=[_EXAMPLE])],
    owner: OwnerDep, session: SessionDep, settings: SettingsDep,
) -> JobRead:
    """Validate the spec completely and queue the job; a worker runs it."""
    validated = validate_submission(document, owner.id, session, settings)
    job = JobRepository(session).create(
        owner.id, validated.spec.name, validated.document,
        dataset_id=validated.dataset.id if validated.dataset is not None else None)
    return JobRead.of(job)


@router.get("", response_model=JobPage)
def list_jobs(
    owner: OwnerDep, session: SessionDep,
    status: Annotated[StatusFilter | None, Query(description="only jobs in this status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> JobPage:
    """The caller's jobs, newest first."""
    jobs = JobRepository(session).list_for_owner(owner.id, status=status, limit=limit + 1,
                                                 offset=offset)
    return JobPage(items=[JobRead.of(j) for j in jobs[:limit]], limit=limit, offset=offset,
                   has_more=len(jobs) > limit)


@router.get("/{job_id}", response_model=JobDetail)
def get_job(job: OwnedJobDep) -> JobDetail:
    """Status and progress: finished/failed/running trials, budget, elapsed time, front size,
    hypervolume."""
    return JobDetail.of(job)


@router.post("/{job_id}/cancel", response_model=JobRead,
             responses={409: {"model": ErrorResponse, "description": "the job already ended"}})
def cancel_job(job: OwnedJobDep, session: SessionDep) -> JobRead:
    """A queued job is cancelled at once; a running one stops its trials and ends
    ``cancelled`` (its finished trials and front stay readable)."""
    if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        raise ApiError.one(409, "job_id", f"job {job.id} already {job.status.value}",
                           root="path", type_="conflict")
    updated = JobRepository(session).request_cancel(job.id)
    assert updated is not None
    return JobRead.of(updated)
