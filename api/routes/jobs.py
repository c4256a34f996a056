"""``/jobs``: submit a search job, list and read jobs, cancel one."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response
from sqlalchemy.orm import Session

from automtl.jobspec import JobSpec
from automtl_api.deps import (
    DatabaseDep,
    Offset,
    OwnedJobDep,
    OwnerDep,
    SessionDep,
    SettingsDep,
)
from automtl_api.errors import ApiError
from automtl_api.schemas import (
    BODY_ERRORS,
    ErrorResponse,
    JobDetail,
    JobPage,
    JobRead,
    JobSubmitted,
)
from automtl_api.settings import Settings
from automtl_api.submission import validate_submission
from automtl_storage import JobRepository, JobStatus, Owner, TrialRepository, TrialState

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

#: ``POST /jobs``'s body in /openapi.json: the JobSpec model itself (every field, its bounds and
#: defaults), as ``#/components/schemas/JobSpec`` (see :func:`job_spec_components`)
_BODY_OPENAPI = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/JobSpec"}, "example": _EXAMPLE}},
    "description": "A job spec. `dataset` is `{id: N}` (an upload of yours) or "
                   "`{builtin: synthetic | census-income}`; never a path."}}


def job_spec_components() -> dict[str, Any]:
    """JobSpec's JSON schema and the schemas it refers to, keyed for ``components.schemas``."""
    schema = JobSpec.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.pop("$defs", {})
    components["JobSpec"] = schema
    return components


@router.post("", status_code=202, response_model=JobSubmitted, openapi_extra=_BODY_OPENAPI,
             summary="Submit a search job",
             responses={**BODY_ERRORS,
                        422: {"model": ErrorResponse,
                              "description": "the spec is invalid: every bad field's path"},
                        429: {"model": ErrorResponse,
                              "description": "you have max_active_jobs queued or running "
                                             "jobs (see GET /limits)"}})
def submit_job(
    document: Annotated[dict[str, Any], Body(include_in_schema=False)],
    owner: OwnerDep, session: SessionDep, settings: SettingsDep, database: DatabaseDep,
    request: Request, response: Response,
) -> JobSubmitted:
    """Validate the spec completely and queue the job; a worker runs it.

    The body is the :class:`~automtl.jobspec.JobSpec` documented in /openapi.json. It is
    parsed by the route rather than by FastAPI so that the spec's errors and the checks
    against the dataset's columns are reported together, each with its path; the spec is
    validated once (and its search space compiled once) in this process. The ``Location``
    header is the new job's URL (``GET`` it for status and progress).
    """
    _check_active_limit(owner, session, settings)
    validated = validate_submission(document, owner.id, session, settings, owner.limits)
    session.commit()  # the reads end here; the write is one short transaction of its own
    with database.write_session() as write:
        job = JobRepository(write).create(
            owner.id, validated.spec.name, validated.document,
            dataset_id=validated.dataset.id if validated.dataset is not None else None,
            warnings=validated.warnings)
    response.headers["Location"] = str(request.url_for("get_job", job_id=job.id))
    return JobSubmitted(**JobRead.of(job, pruned=0).model_dump(),  # a new job has no trials
                        warnings=list(validated.warnings))


@router.get("", response_model=JobPage, summary="List your jobs")
def list_jobs(
    owner: OwnerDep, session: SessionDep,
    status: Annotated[StatusFilter | None, Query(description="only jobs in this status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> JobPage:
    """The caller's jobs, newest first."""
    rows = JobRepository(session).list_summaries_for_owner(owner.id, status=status,
                                                           limit=limit + 1, offset=offset)
    total = JobRepository(session).count_for_owner(owner.id, status=status)
    ids = [j.id for j, _ in rows[:limit]]
    pruned = TrialRepository(session).count_in_state(ids, TrialState.PRUNED)
    interrupted = TrialRepository(session).count_in_state(ids, TrialState.INTERRUPTED)
    return JobPage(items=[JobRead.of_summary(j, pruned[j.id], budget,
                                              interrupted=interrupted[j.id])
                          for j, budget in rows[:limit]],
                   limit=limit, offset=offset, has_more=len(rows) > limit, total=total)


@router.get("/{job_id}", response_model=JobDetail, summary="A job's status and progress")
def get_job(job: OwnedJobDep, session: SessionDep, settings: SettingsDep) -> JobDetail:
    """Status and progress: finished/failed/running trials, budget, elapsed time, front size,
    hypervolume; for a queued job that no live worker can serve, ``waiting_reason`` says why."""
    reason = JobRepository(session).waiting_reason(job, settings.stale_after_s)
    return JobDetail.of(job, _pruned(session, job.id), reason,
                        interrupted=_interrupted(session, job.id))


@router.post("/{job_id}/cancel", response_model=JobRead, summary="Cancel a job",
             responses={409: {"model": ErrorResponse,
                              "description": "the job already ended (succeeded, failed or "
                                             "cancelled)"}})
def cancel_job(job: OwnedJobDep, database: DatabaseDep) -> JobRead:
    """A queued job is cancelled at once; a running one stops its trials and ends
    ``cancelled`` (its finished trials and front stay readable) when its worker reads the
    request (every ``cancel_poll_interval_s``); one whose last trials end first keeps its
    status, and ``cancel_outcome`` says ``too_late``. Asking again while the cancel is pending
    answers 200 (nothing changes); a job that already ended, cancelled included, answers
    409."""
    if job.status.is_terminal:  # succeeded, failed or cancelled: nothing left to stop
        raise ApiError.one(409, "job_id", f"job {job.id} already {job.status.value}: "
                           "only a queued or running job can be cancelled",
                           root="path", type_="conflict")
    with database.write_session() as write:
        updated = JobRepository(write).request_cancel(job.id)
        pruned, interrupted = _pruned(write, job.id), _interrupted(write, job.id)
    assert updated is not None
    return JobRead.of(updated, pruned, interrupted=interrupted)


@router.post("/{job_id}/resume", response_model=JobRead, summary="Resume a job",
             responses={409: {"model": ErrorResponse,
                              "description": "the job is queued, running or succeeded"},
                        429: {"model": ErrorResponse,
                              "description": "you have max_active_jobs queued or running "
                                             "jobs (see GET /limits)"}})
def resume_job(job: OwnedJobDep, owner: OwnerDep, session: SessionDep, settings: SettingsDep,
               database: DatabaseDep) -> JobRead:
    """A cancelled or failed job is queued again with the same study: the worker that runs
    it keeps its finished trials, retries the interrupted ones and runs the rest of the
    budget (a new ``POST /jobs`` starts a new study from zero). A queued, running or
    succeeded job answers 409."""
    if job.status not in (JobStatus.CANCELLED, JobStatus.FAILED):
        raise ApiError.one(409, "job_id", f"job {job.id} is {job.status.value}: only a "
                           "cancelled or failed job can be resumed", root="path",
                           type_="conflict")
    _check_active_limit(owner, session, settings)
    session.commit()
    with database.write_session() as write:
        resumed = JobRepository(write).resume(job.id)
        if resumed is None:  # its status changed meanwhile
            raise ApiError.one(409, "job_id", f"job {job.id} is no longer cancelled or "
                               "failed", root="path", type_="conflict")
        pruned, interrupted = _pruned(write, job.id), _interrupted(write, job.id)
    return JobRead.of(resumed, pruned, interrupted=interrupted)


def _check_active_limit(owner: Owner, session: Session, settings: Settings) -> None:
    """429 when ``owner`` has ``max_active_jobs`` queued or running jobs."""
    limits = settings.for_owner(owner.limits)
    active = JobRepository(session).count_active_for_owner(owner.id)
    if active >= limits.max_active_jobs:
        source = ("your limit" if owner.limits and "max_active_jobs" in owner.limits
                  else "this server's limit (AUTOMTL_MAX_ACTIVE_JOBS)")
        raise ApiError.one(429, "", f"you have {active} queued or running jobs, {source} is "
                           f"{limits.max_active_jobs}: wait for one to finish or cancel one",
                           type_="too_many_jobs", headers={"Retry-After": "60"})


def _pruned(session: Session, job_id: int) -> int:
    """The job's trials in state pruned (from its trial rows)."""
    return TrialRepository(session).count_in_state([job_id], TrialState.PRUNED)[job_id]


def _interrupted(session: Session, job_id: int) -> int:
    """The job's trials in state interrupted (from its trial rows)."""
    return TrialRepository(session).count_in_state([job_id], TrialState.INTERRUPTED)[job_id]
