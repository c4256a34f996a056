"""The FastAPI application: ``create_app(settings)`` includes every resource's router under
``/api/v1`` (OpenAPI at ``/docs``), installs the error handlers and the upload size limit.

The app never trains: ``POST /jobs`` stores a queued job and a worker (``automtl worker``,
:mod:`api.worker`) runs it.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from automtl_api.deps import StudyStorage
from automtl_api.errors import install_error_handlers
from automtl_api.report_cache import ResultCache
from automtl_api.routes.assets import install_offline_docs
from automtl_api.settings import Settings
from automtl_api.uploads import UploadLimit
from automtl_storage import Database

API_PREFIX = "/api/v1"

#: route modules, each exposing ``router``; included under ``/api/v1`` in this order.
#: ``api.routes.export`` (GET /jobs/{id}/export) is added here by its owner.
ROUTE_MODULES: list[str] = [
    "automtl_api.routes.health",
    "automtl_api.routes.jobs",
    "automtl_api.routes.limits",
    "automtl_api.routes.trials",
    "automtl_api.routes.pareto",
    "automtl_api.routes.datasets",
    "automtl_api.routes.search_spaces",
    "automtl_api.routes.export",
    "automtl_api.routes.assets",
]


#: the OpenAPI tags in the order /docs shows them, each with what its routes are for
OPENAPI_TAGS: list[dict[str, str]] = [
    {"name": "jobs", "description": "Submit a search job (202 with a `Location`), list your "
                                    "jobs, read one's status and progress, cancel it; your "
                                    "limits."},
    {"name": "trials", "description": "Every trial of a job: sampled candidate, per-task "
                                      "metrics, costs, durations, errors."},
    {"name": "results", "description": "The Pareto front (JSON or CSV) and the HTML report, "
                                       "read from the job's Optuna study, also while it runs."},
    {"name": "export", "description": "A front trial as a training bundle for your own code."},
    {"name": "datasets", "description": "Upload tabular data (CSV, Parquet) for jobs to "
                                        "search on; list your uploads."},
    {"name": "search spaces", "description": "The built-in search-space presets and "
                                             "validation of your own."},
    {"name": "assets", "description": "Public static files (Plotly, the docs' scripts), so "
                                      "the report and /docs need no internet."},
    {"name": "health", "description": "Liveness and database readiness."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for ``settings`` (default: from the environment). The database must already be
    migrated (``automtl serve`` does it; ``storage.upgrade(url)``)."""
    settings = settings or Settings()
    # as many connections as requests can run at once (Starlette runs sync routes in a thread
    # pool of 40): a request never waits 30 s for a pooled connection under load. Smaller
    # pools stall: 5 + 5 per pool with 4 processes under the 20 + 50 client load gave 44
    # "QueuePool limit" errors and requests hung for 60 s (issue 20 item 2)
    database = Database(settings.resolved_database_url, pool_size=settings.db_pool_size,
                        max_overflow=settings.db_max_overflow, pool_timeout=10)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warm_up()
        freeze_start_up_objects()
        yield
        # collectable again: a process that starts apps one after another (the tests) would
        # otherwise keep every cycle that was alive at one of their starts
        gc.unfreeze()
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
        docs_url=None, redoc_url=None,  # served offline by install_offline_docs below
        openapi_tags=OPENAPI_TAGS,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.result_cache = ResultCache(settings.result_cache_entries)
    app.state.study_storage = StudyStorage(settings.resolved_database_url,
                                           pool_size=settings.db_pool_size,
                                           max_overflow=settings.db_max_overflow)
    install_error_handlers(app)
    install_offline_docs(app, API_PREFIX)
    for name in ROUTE_MODULES:
        app.include_router(importlib.import_module(name).router, prefix=API_PREFIX)
    # /healthz also at the root, where load balancers and orchestrators look for it
    app.include_router(importlib.import_module("automtl_api.routes.health").router,
                       include_in_schema=False)
    app.add_middleware(UploadLimit, paths=(f"{API_PREFIX}/datasets",),
                       limit=settings.max_upload_bytes, body_limit=settings.max_spec_bytes)
    _document_job_spec(app)
    return app


#: what the first requests would import (torch and every model and weighting, which the export
#: routes build; Plotly for the report; spec validation itself needs neither): ~2 s of CPU
#: that, paid by the first requests, stalled every request arriving meanwhile behind Python's
#: import lock
WARM_MODULES = ("automtl.models.builtin", "automtl.weighting.builtin",
                "automtl.report.html", "automtl.report.pareto")


#: whether this process has rendered its warm-up report: what that render warms (Plotly's
#: validators and figure classes, the importance evaluator's imports) lasts as long as the
#: process, so a second app started in it (the API tests start ~200 in one process) does not
#: render again (~0.5 s of CPU each, warming nothing)
_report_rendering_warmed = False


def warm_up() -> None:
    """Import what requests need, and render one empty report (Plotly's first figure loads
    its validators) once per process, before the server accepts its first request (uvicorn
    runs the lifespan's start before it listens)."""
    global _report_rendering_warmed
    for name in WARM_MODULES:
        importlib.import_module(name)
    from automtl.models.registry import available_topologies
    from automtl.weighting.registry import available_weightings

    available_topologies()
    available_weightings()
    if _report_rendering_warmed:
        return
    from automtl_api.results import warm_report_rendering

    warm_report_rendering()
    _report_rendering_warmed = True


def freeze_start_up_objects() -> None:
    """Move every object alive after start-up (modules, torch, Plotly's validator schema:
    ~300,000 objects) out of the garbage collector's reach (``gc.freeze``): they live as long
    as the process, and a full collection traversed them all, ~0.5 s of CPU with the GIL held
    during which no request moved (under the 20 + 50 client load: 9 full collections in 30 s,
    3.4 s in all, issue 20). Objects made by requests are collected as before; the app's
    shutdown unfreezes them (``gc.unfreeze``)."""
    gc.collect()
    gc.freeze()


def _document_job_spec(app: FastAPI) -> None:
    """Put the JobSpec schema (the ``POST /jobs`` body) into /openapi.json's components, and
    an example into every route's answer (:mod:`automtl_api.examples`)."""
    from automtl_api.examples import add_examples
    from automtl_api.routes.jobs import job_spec_components

    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, component in job_spec_components().items():
                schemas.setdefault(name, component)
            body = schema["paths"][f"{API_PREFIX}/jobs"]["post"]["requestBody"]
            body["content"]["application/json"]["schema"] = {
                "$ref": "#/components/schemas/JobSpec"}  # not the raw dict FastAPI reads
            add_examples(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
