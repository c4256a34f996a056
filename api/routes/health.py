"""``/healthz``: the one endpoint without a token; 503 when the database does not answer."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from automtl_api.deps import DatabaseDep
from automtl_api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness and database check",
            responses={503: {"model": Health}})
def healthz(database: DatabaseDep) -> Health | JSONResponse:
    """200 with the database dialect when the database answers, else 503 (no token needed)."""
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        body = Health(status="unavailable", database=f"error: {type(exc).__name__}")
        return JSONResponse(status_code=503, content=body.model_dump())
    return Health(status="ok", database=database.dialect)
