"""Static assets served by the API itself, so nothing a page needs comes from the internet:
Plotly's script, shared by every report page (``?plotly=shared``, the default), and the
Swagger UI and ReDoc bundles of the offline ``/docs`` and ``/redoc`` (from the
``fastapi-offline`` package).

No token is needed: these are public library files, cached by browsers for a day and
revalidated by ETag (each file's version is in its ETag).
"""

from __future__ import annotations

import functools
import mimetypes
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response

from automtl_api.errors import not_found
from automtl_api.report_cache import RenderedPage, page_response

#: under the API prefix (``/api/v1``)
ASSETS_PATH = "/assets"
PLOTLY_PATH = f"{ASSETS_PATH}/plotly.min.js"
API_PREFIX = "/api/v1"  # automtl_api.main.API_PREFIX (imported there; routes cannot import main)
#: the docs' files, by the name they are served under
DOC_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
CACHE = "public, max-age=86400"

router = APIRouter(prefix=ASSETS_PATH, tags=["assets"])


@functools.cache
def _plotly() -> RenderedPage:
    from plotly.offline import get_plotlyjs

    return RenderedPage.of(get_plotlyjs())


@functools.cache
def _doc_asset(name: str) -> RenderedPage | None:
    import fastapi_offline

    path = Path(fastapi_offline.__file__).parent / "static" / name
    if name not in DOC_ASSETS or not path.is_file():
        return None
    return RenderedPage.of_bytes(path.read_bytes())


@router.get("/plotly.min.js", summary="Plotly's script, shared by reports",
            response_class=Response,
            responses={200: {"content": {"application/javascript": {}}},
                       304: {"description": "not modified"}})
def plotly_js(request: Request) -> Response:
    """The Plotly version the reports are built with, loaded by every report page fetched
    without ``?plotly=inline`` (gzip when accepted, ETag, cacheable for a day)."""
    return page_response(request, _plotly(), media_type="application/javascript",
                         cache_control=CACHE)


@router.get("/docs/{name}", summary="A file of the offline API docs", response_class=Response,
            responses={404: {"description": "no such file"}})
def doc_asset(name: str, request: Request) -> Response:
    """Swagger UI's and ReDoc's scripts, stylesheet and icon, so ``/docs`` and ``/redoc`` work
    without internet access."""
    page = _doc_asset(name)
    if page is None:
        raise not_found("docs asset", repr(name), "name")
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return page_response(request, page, media_type=media, cache_control=CACHE)


def install_offline_docs(app: FastAPI, prefix: str = API_PREFIX) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` loading their files from this API instead of a CDN,
    and without Google Fonts. The app must be created with ``docs_url=None, redoc_url=None``."""
    base = f"{prefix}{ASSETS_PATH}/docs"
    title = f"{app.title} API"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=title,
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            swagger_js_url=f"{root}{base}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{base}/swagger-ui.css",
            swagger_favicon_url=f"{root}{base}/favicon.png")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title=title,
                              redoc_js_url=f"{root}{base}/redoc.standalone.js",
                              redoc_favicon_url=f"{root}{base}/favicon.png",
                              with_google_fonts=False)
