"""Error responses: every 4xx body is ``{"detail": [{"loc", "path", "msg", "type"}, ...]}``.

Domain errors (an invalid job spec or search space, bad data naming its column) become 422
with the dotted path of each bad field, never a 500; FastAPI's own request validation errors
get the same ``path`` key so clients read one shape. A write that found the database busy past
its timeout is a 503 with ``Retry-After`` (nothing was written), not a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def path_to_loc(path: str, root: str = "body") -> list[str | int]:
    """``"tasks[0].label"`` -> ``["body", "tasks", 0, "label"]``."""
    loc: list[str | int] = [root] if root else []
    for name, index in _TOKEN.findall(path):
        loc.append(int(index) if index else name)
    return loc


def loc_to_path(loc: Sequence[str | int]) -> str:
    """``["body", "tasks", 0, "label"]`` -> ``"tasks[0].label"`` (the root part dropped)."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def error_item(path: str, msg: str, *, root: str = "body",
               type_: str = "value_error") -> dict[str, Any]:
    return {"loc": path_to_loc(path, root), "path": path, "msg": msg, "type": type_}


class ApiError(Exception):
    """An error answered with ``status_code`` and a list of ``{loc, path, msg}`` items."""

    def __init__(self, status_code: int, items: Iterable[dict[str, Any]],
                 headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.items = list(items)
        self.headers = headers
        super().__init__("; ".join(f"{i['path']}: {i['msg']}" for i in self.items))

    @classmethod
    def one(cls, status_code: int, path: str, msg: str, *, root: str = "body",
            type_: str = "value_error", headers: dict[str, str] | None = None) -> ApiError:
        return cls(status_code, [error_item(path, msg, root=root, type_=type_)], headers)

    @classmethod
    def invalid(cls, errors: Iterable[tuple[str, str]], root: str = "body") -> ApiError:
        """422 from ``(path, message)`` pairs (JobSpecError / SearchSpaceError style)."""
        return cls(422, [error_item(p, m, root=root) for p, m in errors])


def not_found(kind: str, identifier: object, param: str) -> ApiError:
    """404 for a resource that does not exist or belongs to someone else (the same answer, so
    ids of other owners' resources leak nothing)."""
    return ApiError.one(404, param, f"{kind} {identifier} not found", root="path",
                        type_="not_found")


def _render(error: ApiError) -> JSONResponse:
    return JSONResponse(status_code=error.status_code, content={"detail": error.items},
                        headers=error.headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _render(exc)


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            items.append(invalid_json_item(err, getattr(exc, "body", None)))
            continue
        loc = list(err.get("loc", ()))
        items.append({"loc": loc, "path": loc_to_path(loc), "msg": err.get("msg", ""),
                      "type": err.get("type", "value_error")})
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(items)})


def invalid_json_item(err: dict[str, Any], body: Any) -> dict[str, Any]:
    """A body that is not JSON: FastAPI puts the decoder's character offset in ``loc``
    (``["body", 20]``), where a client reads a list index. The answer is at ``["body"]`` and
    the message gives the position as a position: ``invalid JSON at line 2 column 13 (char
    20): Expecting ',' delimiter``."""
    import json

    reason = str((err.get("ctx") or {}).get("error") or err.get("msg") or "JSON decode error")
    where = ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else body
    if isinstance(text, str):
        try:
            json.loads(text)
        except json.JSONDecodeError as decode:
            reason = decode.msg
            where = f" at line {decode.lineno} column {decode.colno} (char {decode.pos})"
    if not where:
        offsets = [part for part in err.get("loc", ())[1:] if isinstance(part, int)]
        where = f" at char {offsets[0]}" if offsets else ""
    return {"loc": ["body"], "path": "", "msg": f"invalid JSON{where}: {reason}",
            "type": "json_invalid"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    item = {"loc": [], "path": "", "msg": str(exc.detail), "type": "http_error"}
    return JSONResponse(status_code=exc.status_code, content={"detail": [item]},
                        headers=getattr(exc, "headers", None))


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    """A JobSpecError, SearchSpaceError or DataError that escaped a route: still a 422."""
    from automtl.data import DataError

    if isinstance(exc, DataError):
        return _render(ApiError.one(422, exc.field or "", str(exc)))
    errors = getattr(exc, "errors", None) or [("", str(exc))]
    return _render(ApiError.invalid(errors))


async def _database_busy(request: Request, exc: Exception) -> JSONResponse:
    """503 with ``Retry-After`` when a write found the database busy past its timeout (a
    SQLite write lock held too long elsewhere): nothing was written, the client may retry.
    Any other database error stays a 500."""
    from sqlalchemy.exc import OperationalError

    from automtl_storage import DatabaseBusy

    if isinstance(exc, OperationalError) and "database is locked" not in str(exc):
        raise exc
    assert isinstance(exc, DatabaseBusy | OperationalError)
    return _render(ApiError.one(503, "", "the database is busy: nothing was written, retry "
                                "in a few seconds", type_="database_busy",
                                headers={"Retry-After": "5"}))


def install_error_handlers(app: FastAPI) -> None:
    from automtl.data import DataError
    from automtl.jobspec import JobSpecError
    from search_spaces import SearchSpaceError

    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for kind in (JobSpecError, SearchSpaceError, DataError):
        app.add_exception_handler(kind, _domain_error)
    from sqlalchemy.exc import OperationalError

    from automtl_storage import DatabaseBusy

    for busy in (DatabaseBusy, OperationalError):
        app.add_exception_handler(busy, _database_busy)
