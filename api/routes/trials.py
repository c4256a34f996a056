"""``/jobs/{id}/trials``: the trials the worker stored, with metrics, costs and errors."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from automtl_api.deps import Offset, OwnedJobDep, SessionDep, SettingsDep
from automtl_api.schemas import ErrorResponse, TrialPage, TrialRead
from automtl_storage import TrialRepository

router = APIRouter(prefix="/jobs", tags=["trials"],
                   responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}})


@router.get("/{job_id}/trials", response_model=TrialPage, summary="A job's trials")
def list_trials(
    job: OwnedJobDep, session: SessionDep, settings: SettingsDep,
    state: Annotated[Literal["running", "complete", "failed", "pruned", "interrupted"] | None,
                     Query(description="only trials in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> TrialPage:
    """Trials by number: parameters, candidate, per-task metrics, costs, durations, errors."""
    trials = TrialRepository(session).list_for_job(job.id, state=state)
    page = trials[offset:offset + limit]
    return TrialPage(items=[TrialRead.of(t, settings.path_roots) for t in page], limit=limit,
                     offset=offset, has_more=len(trials) > offset + limit, total=len(trials))
