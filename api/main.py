"""The FastAPI application: ``create_app(settings)`` includes every resource's router under
``/api/v1`` (OpenAPI at ``/docs``), installs the error handlers and the upload size limit.

The app never trains: ``POST /jobs`` stores a queued job and a worker (``automtl worker``,
:mod:`api.worker`) runs it.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from automtl_api.deps import StudyStorage
from automtl_api.errors import install_error_handlers
from automtl_api.settings import Settings
from automtl_api.uploads import UploadLimit
from automtl_storage import Database

API_PREFIX = "/api/v1"

#: route modules, each exposing ``router``; included under ``/api/v1`` in this order.
#: ``api.routes.export`` (GET /jobs/{id}/export) is added here by its owner.
ROUTE_MODULES: list[str] = [
    "automtl_api.routes.health",
    "automtl_api.routes.jobs",
    "automtl_api.routes.trials",
    "automtl_api.routes.pareto",
    "automtl_api.routes.datasets",
    "automtl_api.routes.search_spaces",
    "automtl_api.routes.export",
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for ``settings`` (default: from the environment). The database must already be
    migrated (``automtl serve`` does it; ``storage.upgrade(url)``)."""
    settings = settings or Settings()
    # as many connections as requests can run at once (Starlette runs sync routes in a thread
    # pool of 40): a request never waits 30 s for a pooled connection under load
    database = Database(settings.resolved_database_url, pool_size=settings.db_pool_size,
                        max_overflow=settings.db_max_overflow, pool_timeout=10)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        database.dispose()

    app = FastAPI(
        title="automtl",
        summary="AutoML search over multi-task learning architectures",
        description="Submit a search job over a tabular dataset with several label columns, "
                    "follow its progress, read its Pareto front and report. Every endpoint but "
                    "`/healthz` needs `Authorization: Bearer <token>` "
                    "(`automtl token create NAME`).",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.study_storage = StudyStorage(settings.resolved_database_url,
                                           pool_size=settings.db_pool_size,
                                           max_overflow=settings.db_max_overflow)
    install_error_handlers(app)
    for name in ROUTE_MODULES:
        app.include_router(importlib.import_module(name).router, prefix=API_PREFIX)
    # /healthz also at the root, where load balancers and orchestrators look for it
    app.include_router(importlib.import_module("automtl_api.routes.health").router,
                       include_in_schema=False)
    app.add_middleware(UploadLimit, paths=(f"{API_PREFIX}/datasets",),
                       limit=settings.max_upload_bytes, body_limit=settings.max_spec_bytes)
    return app
