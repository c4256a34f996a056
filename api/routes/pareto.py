"""``/jobs/{id}/pareto`` (JSON or CSV) and ``/jobs/{id}/report`` (an HTML page), read from the
job's Optuna study, so both answer while the job runs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from automtl_api.deps import OwnedJobDep, SessionDep, StudyStorageDep
from automtl_api.results import front_csv, job_front, job_report
from automtl_api.schemas import ErrorResponse, ParetoFront, json_error

router = APIRouter(prefix="/jobs", tags=["results"],
                   responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}})


@router.get("/{job_id}/pareto", response_model=ParetoFront,
            responses={200: {"content": {"text/csv": {}},
                             "description": "the front as JSON, or CSV with ?format=csv"}})
def get_pareto(job: OwnedJobDep, storage: StudyStorageDep,
               format: Annotated[Literal["json", "csv"], Query()] = "json") -> Any:
    """The front: each front trial's candidate, every objective (validation) and its test
    metrics; the hypervolume and its reference point; the number of dominated trials."""
    front = job_front(job, storage)
    if format == "csv":
        return Response(front_csv(front), media_type="text/csv",
                        headers={"Content-Disposition":
                                 f'attachment; filename="job-{job.id}-front.csv"'})
    return front


@router.get("/{job_id}/report", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}}, "description": "the report page"},
                       401: json_error("missing, invalid, expired or revoked token"),
                       404: json_error("no such job of yours"),
                       422: json_error("a path or query parameter is invalid")})
def get_report(job: OwnedJobDep, storage: StudyStorageDep, session: SessionDep) -> HTMLResponse:
    """A self-contained HTML page: the front plotted, every trial's objectives, hypervolume
    over trials, the front's architectures, MTL gains and expert utilisation."""
    return HTMLResponse(job_report(job, storage, session))
