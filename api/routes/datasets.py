"""``/datasets``: upload a CSV or Parquet table (its schema is detected and returned), list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from automtl_api.deps import DatabaseDep, IdPath, Offset, OwnerDep, SessionDep, SettingsDep
from automtl_api.errors import ApiError, not_found
from automtl_api.schemas import BODY_ERRORS, DatasetPage, DatasetRead, ErrorResponse
from automtl_api.uploads import store_upload
from automtl_storage import DatasetRepository

router = APIRouter(prefix="/datasets", tags=["datasets"],
                   responses={401: {"model": ErrorResponse}})


@router.post("", status_code=201, summary="Upload a dataset", response_model=DatasetRead,
             responses={200: {"model": DatasetRead,
                              "description": "you uploaded the same bytes before: that dataset"},
                        **BODY_ERRORS, 422: {"model": ErrorResponse}})
def upload_dataset(
    file: Annotated[UploadFile, File(description="a .csv or .parquet table")],
    owner: OwnerDep, settings: SettingsDep, database: DatabaseDep, response: Response,
    name: Annotated[str | None, Form(max_length=200)] = None,
) -> DatasetRead:
    """Store the table under the data root (a generated name) and return its detected schema;
    use its id in a job spec as ``dataset: {id: ID}``."""
    if name is not None and "\x00" in name:
        raise ApiError.one(422, "name", "must not contain NUL characters")
    stored = store_upload(file.file, file.filename, settings.upload_dir,
                          settings.max_upload_bytes, max_rows=settings.max_upload_rows,
                          max_cells=settings.max_upload_cells)
    with database.write_session() as session:  # one short write, after the file is stored
        repository = DatasetRepository(session)
        existing = repository.find_by_hash(owner.id, stored.content_hash)
        if existing is not None:
            stored.path.unlink(missing_ok=True)
            response.status_code = 200
            return DatasetRead.of(existing)
        dataset = repository.create(
            owner.id, name or _safe_name(file.filename) or stored.path.name,
            storage_path=str(stored.path.relative_to(settings.data_dir.resolve())),
            content_hash=stored.content_hash, detected_schema=stored.schema,
            size_bytes=stored.size_bytes)
    return DatasetRead.of(dataset)


@router.get("", response_model=DatasetPage, summary="List your datasets")
def list_datasets(
    owner: OwnerDep, session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> DatasetPage:
    """The caller's datasets, newest first."""
    rows = DatasetRepository(session).list_for_owner(owner.id, limit=limit + 1, offset=offset)
    return DatasetPage(items=[DatasetRead.of(d) for d in rows[:limit]], limit=limit,
                       offset=offset, has_more=len(rows) > limit,
                       total=DatasetRepository(session).count_for_owner(owner.id))


@router.get("/{dataset_id}", response_model=DatasetRead, summary="Read a dataset",
            responses={404: {"model": ErrorResponse}})
def get_dataset(dataset_id: IdPath, owner: OwnerDep, session: SessionDep) -> DatasetRead:
    """One of your uploads: its rows, detected column schema, size and content hash."""
    dataset = DatasetRepository(session).get_for_owner(dataset_id, owner.id)
    if dataset is None:
        raise not_found("dataset", dataset_id, "dataset_id")
    return DatasetRead.of(dataset)


def _safe_name(filename: str | None) -> str | None:
    """The upload's file name without NUL characters (the database's text cannot hold them)."""
    return filename.replace("\x00", "")[:200] if filename else None
