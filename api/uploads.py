"""Dataset uploads: a size limit, a generated file name under the data root, a schema.

The request body is refused early (413) when its ``Content-Length`` is over the limit
(:class:`UploadLimit`); bodies without one are counted while they are copied. A file is kept
only if pandas reads it as a table with rows and at least two columns.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from automtl_api.errors import ApiError

CHUNK_BYTES = 1024 * 1024
#: room for multipart boundaries and part headers on top of the file itself
MULTIPART_SLACK_BYTES = 64 * 1024
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class StoredUpload:
    path: Path
    size_bytes: int
    content_hash: str
    schema: dict[str, Any]


def upload_format(filename: str | None) -> str:
    """``csv`` or ``parquet`` from the file name; 422 for anything else."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in _FORMATS:
        raise ApiError.one(422, "file", f"unsupported file {filename!r}: upload a .csv or "
                                        ".parquet table")
    return _FORMATS[suffix]


def too_large(limit: int) -> ApiError:
    return ApiError.one(413, "file", f"the upload is larger than the limit of {limit} bytes "
                                     "(AUTOMTL_MAX_UPLOAD_BYTES)", type_="too_large")


def store_upload(source: IO[bytes], filename: str | None, directory: Path,
                 limit: int) -> StoredUpload:
    """Copy an uploaded file under ``directory`` with a generated name and detect its schema.

    413 past ``limit`` bytes; 422 when it is not a table pandas can read (the file is removed).
    """
    from automtl.data import DataError, detect_schema, read_table

    fmt = upload_format(filename)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{uuid.uuid4().hex}.{fmt}"
    digest = hashlib.sha256()
    size = 0
    try:
        with target.open("wb") as out:
            while chunk := source.read(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise ApiError.one(422, "file", "the uploaded file is empty")
        try:
            frame = read_table(target, fmt)  # type: ignore[arg-type]
            schema = detect_schema(frame)
        except DataError as exc:
            raise ApiError.one(422, "file", f"not a readable {fmt} table: "
                                            f"{_without_path(str(exc), target)}") from None
        if schema["rows"] == 0 or len(schema["columns"]) < 2:
            raise ApiError.one(422, "file", f"a dataset needs rows and at least two columns "
                                            f"(features and a label); found {schema['rows']} "
                                            f"rows and {len(schema['columns'])} column(s)")
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    for column in schema["columns"]:
        column["binary"] = is_binary(frame[column["name"]])
    schema = json.loads(json.dumps({**schema, "format": fmt}))
    return StoredUpload(path=target, size_bytes=size, content_hash=digest.hexdigest(),
                        schema=schema)


def is_binary(series: Any) -> bool:
    """Whether a numeric or boolean column's present values are all 0/1: a binary label."""
    import numpy as np
    from pandas.api import types as ptypes

    if not (ptypes.is_bool_dtype(series.dtype) or ptypes.is_numeric_dtype(series.dtype)):
        return False
    values = np.asarray(series.dropna().unique(), dtype=float)
    return len(values) > 0 and bool(np.isin(values, [0.0, 1.0]).all())


def _without_path(message: str, path: Path) -> str:
    """Error text without the server's file path (the client never sees where files live)."""
    return message.replace(repr(str(path)), "the upload").replace(str(path), "the upload")


class UploadLimit:
    """ASGI middleware: 413 before reading a body whose Content-Length is over the limit
    (for ``POST`` on the given paths), so a huge upload is not spooled to disk first."""

    def __init__(self, app: Any, paths: tuple[str, ...], limit: int) -> None:
        self.app = app
        self.paths = paths
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and \
                scope["path"].rstrip("/") in self.paths:
            headers = dict(scope.get("headers") or [])
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and \
                    int(length) > self.limit + MULTIPART_SLACK_BYTES:
                error = too_large(self.limit)
                body = json.dumps({"detail": error.items}).encode()
                await send({"type": "http.response.start", "status": 413,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode()),
                                        (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
