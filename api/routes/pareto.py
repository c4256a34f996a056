"""``/jobs/{id}/pareto`` (JSON or CSV) and ``/jobs/{id}/report`` (an HTML page), read from the
job's Optuna study, so both answer while the job runs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import TypeAdapter

from automtl_api.deps import OwnedJobDep, SessionDep, SettingsDep, StudyStorageDep
from automtl_api.report_cache import RenderedPage, page_response, result_cache
from automtl_api.results import front_csv, gains_csv, job_front, job_report
from automtl_api.routes.assets import API_PREFIX, PLOTLY_PATH
from automtl_api.schemas import ErrorResponse, ParetoFront, json_error

router = APIRouter(prefix="/jobs", tags=["results"],
                   responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}})


@router.get("/{job_id}/pareto", response_model=ParetoFront, summary="The job's Pareto front",
            responses={200: {"content": {"text/csv": {}},
                             "description": "the front as JSON, or CSV with ?format=csv "
                                            "(?table=gains: the confirmed MTL-gain rows); "
                                            "gzip when accepted, with an ETag"},
                       304: {"description": "the front named by If-None-Match is current"}})
def get_pareto(job: OwnedJobDep, storage: StudyStorageDep, session: SessionDep,
               settings: SettingsDep, request: Request,
               format: Annotated[Literal["json", "csv"], Query()] = "json",
               table: Annotated[Literal["front", "gains"], Query(
                   description="with format=csv: front (one row per front trial) or gains "
                               "(the confirmed MTL gain per front trial and task, the fields "
                               "of the JSON's mtl_gain.gains)")] = "front") -> Response:
    """The front: each front trial's candidate, every objective (validation) and its test
    metrics; the hypervolume and its reference point; the number of dominated trials; the
    confirmed MTL gain table (``mtl_gain``) once the confirmation is stored.
    Computed and serialised once per trial landing (a running job's reused for at most a few
    seconds more); the answer has an ETag (a hash of the JSON or CSV), and ``If-None-Match``
    with it gives 304 while the front is unchanged."""
    session.commit()  # the token and job are read: no connection held while it is computed
    cache = result_cache(request)

    def front() -> dict[str, Any]:
        return cache.for_job(job, "front",
                             lambda: job_front(job, storage, roots=settings.path_roots),
                             settings.live_results_ttl_s)

    def serialised() -> RenderedPage:
        if format == "csv":
            return RenderedPage.of(gains_csv(front()) if table == "gains"
                                   else front_csv(front()))
        # what FastAPI would send for response_model=ParetoFront, serialised once per version
        return RenderedPage.of_bytes(_FRONT.dump_json(_FRONT.validate_python(front())))

    kind = table if format == "csv" else "front"
    page = cache.for_job(job, ("front", format, kind), serialised,
                         settings.live_results_ttl_s)
    if format == "csv":
        return page_response(request, page, "text/csv", headers={
            "Content-Disposition": f'attachment; filename="job-{job.id}-{kind}.csv"'})
    return page_response(request, page, "application/json")


#: validates and serialises a front as the route's response model does
_FRONT: TypeAdapter[ParetoFront] = TypeAdapter(ParetoFront)


@router.get("/{job_id}/report", response_class=HTMLResponse,
            summary="The job's HTML report",
            responses={200: {"content": {"text/html": {}},
                             "description": "the page (gzip when accepted), with an ETag"},
                       304: {"description": "the page named by If-None-Match is current"},
                       401: json_error("missing, invalid, expired or revoked token"),
                       404: json_error("no such job of yours"),
                       422: json_error("a path or query parameter is invalid")})
def get_report(job: OwnedJobDep, storage: StudyStorageDep, session: SessionDep,
               settings: SettingsDep, request: Request,
               plotly: Annotated[Literal["inline", "shared"], Query(
                   description="shared (the default, for a browser): load Plotly from this "
                               f"API's {PLOTLY_PATH} (~0.2 MB per report, the script cached "
                               "by the browser); inline: a self-contained file that opens "
                               "offline (Plotly embedded, ~4.7 MB uncompressed), for "
                               "downloads")] = "shared",
               ) -> Response:
    """A page with the front plotted (zoomed, coloured by topology), every trial's objectives,
    hypervolume over trials, parameter importances, parallel coordinates, learning curves, the
    front's architectures, per-topology bests, MTL gains, expert utilisation and a sortable
    table of every trial. By default the page loads Plotly from this API (``?plotly=inline``
    gives a file that opens offline). A page is rendered once per trial landing (a running job's is
    reused for at most a few seconds more), concurrent requests wait for that one render; every
    page has an ETag (a hash of the page)."""
    session.commit()  # the token and job are read: no connection held while it renders
    plotly_js = f"{request.scope.get('root_path', '')}{API_PREFIX}{PLOTLY_PATH}" \
        if plotly == "shared" else None

    def render() -> RenderedPage:
        return RenderedPage.of(job_report(job, storage, session, plotly_js=plotly_js,
                                           roots=settings.path_roots))

    page = result_cache(request).for_job(job, ("report", plotly, plotly_js), render,
                                         settings.live_results_ttl_s)
    return page_response(request, page)
