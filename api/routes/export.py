"""``/jobs/{id}/export``: the training bundle of one trial, as a zip (see :mod:`automtl.export`).

``?trial=N`` exports trial N; without it the trial is chosen from the job's Pareto front by the
weighted sum of min-max normalised objectives (``?prefer=ctr=2,cvr=1``; equal weights by
default), and ``choice.json`` in the bundle says why. A bundle is built once per trial and
choice (:func:`automtl.export.cached_bundle_zip`) under ``<artifact_dir>/exports/job-<id>/`` and
recorded in the exports table when built; repeated GETs serve the same file with the same
``ETag``, and ``If-None-Match`` with it answers 304.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import FileResponse, Response

from automtl_api.deps import OwnedJobDep, SessionDep, SettingsDep
from automtl_api.errors import ApiError
from automtl_api.schemas import ErrorResponse, json_error
from automtl_api.spec_limits import ID_MAX
from automtl_storage import ExportRepository, TrialRepository
from automtl_storage.paths import relative_to_root

router = APIRouter(prefix="/jobs", tags=["export"],
                   responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}})


@router.get(
    "/{job_id}/export", response_class=FileResponse, summary="A trial as a training bundle",
    responses={200: {"content": {"application/zip": {}},
                      "description": "a zip: config.yaml, train.py, model.py, weights.pt, "
                                     "model.ts, README.md (and choice.json)"},
               304: {"description": "If-None-Match names the current bundle's ETag"},
               401: json_error("missing, invalid, expired or revoked token"),
               404: json_error("no such job or trial of yours"),
               409: json_error("the trial is not finished"),
               410: json_error("the trial's weights are gone"),
               422: json_error("a parameter is invalid")})
def export_bundle(
    job: OwnedJobDep, session: SessionDep, settings: SettingsDep,
    trial: Annotated[int | None, Query(ge=0, le=ID_MAX,
                                       description="trial number to export")] = None,
    prefer: Annotated[str | None, Query(description="objective weights for choosing among the "
                                                    "front, e.g. ctr=2,cvr=1")] = None,
    if_none_match: Annotated[str | None, Header(description="an ETag of an earlier export")]
    = None,
) -> Response:
    """The training bundle of trial ``trial`` (or of the front trial ``prefer`` chooses)."""
    from automtl.export import (
        ArtifactMissingError,
        ExportError,
        PreferenceError,
        TrialNotFinishedError,
        TrialNotFoundError,
        cached_bundle_zip,
        job_source,
        parse_prefer,
    )

    if trial is not None and prefer:
        raise ApiError.one(422, "prefer", "give either trial or prefer, not both", root="query")
    try:
        weights = parse_prefer(prefer)
    except PreferenceError as exc:  # the library's messages name no option: loc names ours
        raise ApiError.one(422, "prefer", str(exc), root="query") from None
    artifact_root = settings.resolved_artifact_dir  # bundles are built here, also with a URL
    source = job_source(job.id, job.name, job.spec, TrialRepository(session).list_for_job(job.id),
                        study_name=job.study_name, artifact_root=settings.artifact_location,
                        status=job.status.value)
    exports = artifact_root / "exports" / f"job-{job.id}"
    try:
        bundle = cached_bundle_zip(source, exports, f"automtl-job-{job.id}-trial-{{number}}",
                                   trial=trial, prefer=weights)
    except PreferenceError as exc:  # e.g. prefer names an objective the job does not have
        raise ApiError.one(422, "prefer", str(exc), root="query") from None
    except TrialNotFoundError as exc:
        raise ApiError.one(404, "trial", str(exc), root="query", type_="not_found") from None
    except TrialNotFinishedError as exc:
        raise ApiError.one(409, "trial", str(exc), root="query", type_="conflict") from None
    except ArtifactMissingError as exc:
        raise ApiError.one(410, "trial", str(exc), root="query", type_="gone") from None
    except ExportError as exc:
        raise ApiError.one(409, "trial", str(exc), root="query", type_="conflict") from None
    except ValueError as exc:  # e.g. a front trial without a finite objective value
        raise ApiError.one(409, "trial", str(exc), root="query", type_="conflict") from None
    number = bundle.record.number
    if bundle.built:
        assert bundle.record.row_id is not None
        ExportRepository(session).create(job.id, bundle.record.row_id,
                                         relative_to_root(bundle.path, artifact_root))
    headers = {"X-Automtl-Trial": str(number), "ETag": bundle.etag,
               "Cache-Control": "private, no-cache"}
    if bundle.choice is not None:  # every objective's weight, the unnamed ones' default too
        headers["X-Automtl-Weights"] = bundle.choice.weights_header()
    if if_none_match is not None and _matches(if_none_match, bundle.etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(bundle.path, media_type="application/zip",
                        filename=f"automtl-job-{job.id}-trial-{number}.zip", headers=headers)


def _matches(header: str, etag: str) -> bool:
    """RFC 9110 If-None-Match: ``*`` or a comma-separated list of (possibly weak) tags."""
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags
