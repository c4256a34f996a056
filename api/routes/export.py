"""``/jobs/{id}/export``: the training bundle of one trial, as a zip (see :mod:`automtl.export`).

``?trial=N`` exports trial N; without it the trial is chosen from the job's Pareto front by the
weighted sum of min-max normalised objectives (``?prefer=ctr=2,cvr=1``; equal weights by
default), and ``choice.json`` in the bundle says why. Each export is recorded in the exports
table; the zip is kept under ``<artifact_dir>/exports/job-<id>/``.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from automtl_api.deps import OwnedJobDep, SessionDep, SettingsDep
from automtl_api.errors import ApiError
from automtl_api.schemas import ErrorResponse, json_error
from automtl_api.spec_limits import ID_MAX
from automtl_storage import ExportRepository, TrialRepository, utcnow

router = APIRouter(prefix="/jobs", tags=["export"],
                   responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}})


@router.get(
    "/{job_id}/export", response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}},
                      "description": "a zip: config.yaml, train.py, model.py, weights.pt, "
                                     "model.ts, README.md (and choice.json)"},
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
) -> FileResponse:
    """The training bundle of trial ``trial`` (or of the front trial ``prefer`` chooses)."""
    from automtl.export import (
        ArtifactMissingError,
        ExportError,
        TrialNotFinishedError,
        TrialNotFoundError,
        export_trial,
        job_source,
        parse_prefer,
        zip_bundle,
    )

    if trial is not None and prefer:
        raise ApiError.one(422, "prefer", "give either trial or prefer, not both", root="query")
    try:
        weights = parse_prefer(prefer)
    except ValueError as exc:
        raise ApiError.one(422, "prefer", str(exc), root="query") from None
    source = job_source(job.id, job.name, job.spec, TrialRepository(session).list_for_job(job.id),
                        study_name=job.study_name)
    exports = settings.resolved_artifact_dir / "exports" / f"job-{job.id}"
    exports.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=exports, prefix=".export-") as tmp:
        try:
            result = export_trial(source, Path(tmp) / "bundle", trial=trial, prefer=weights)
        except TrialNotFoundError as exc:
            raise ApiError.one(404, "trial", str(exc), root="query", type_="not_found") from None
        except TrialNotFinishedError as exc:
            raise ApiError.one(409, "trial", str(exc), root="query", type_="conflict") from None
        except ArtifactMissingError as exc:
            raise ApiError.one(410, "trial", str(exc), root="query", type_="gone") from None
        except ExportError as exc:
            raise ApiError.one(409, "trial", str(exc), root="query", type_="conflict") from None
        except ValueError as exc:  # e.g. --prefer names an objective the job does not have
            raise ApiError.one(422, "prefer", str(exc), root="query") from None
        number = result.record.number
        folder = f"automtl-job-{job.id}-trial-{number}"
        stamp = f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        archive = zip_bundle(result.directory, exports / f"{folder}-{stamp}.zip", folder)
    assert result.record.row_id is not None
    ExportRepository(session).create(job.id, result.record.row_id, str(archive))
    headers = {"X-Automtl-Trial": str(number)}
    return FileResponse(archive, media_type="application/zip", filename=f"{folder}.zip",
                        headers=headers)
