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

from starlette.exceptions import HTTPException as StarletteHTTPException

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
                 limit: int, *, max_rows: int | None = None,
                 max_cells: int | None = None) -> StoredUpload:
    """Copy an uploaded file under ``directory`` with a generated name and detect its schema.

    413 past ``limit`` bytes, or past ``max_rows`` rows or ``max_cells`` rows x columns (a
    Parquet file's are read from its footer before any data is decompressed); 422 when it is
    not a table pandas can read, a column name is not a plain string or a CSV holds a NUL byte
    (the file is removed).
    """
    from automtl.data import DataError, detect_schema, read_table
    from automtl.data.io import is_binary

    fmt = upload_format(filename)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{uuid.uuid4().hex}.{fmt}"
    digest = hashlib.sha256()
    size = 0
    has_nul = False
    try:
        with target.open("wb") as out:
            while chunk := source.read(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                has_nul = has_nul or b"\x00" in chunk
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise ApiError.one(422, "file", "the uploaded file is empty")
        if fmt == "csv" and has_nul:
            # pandas before 3.0 cuts a CSV field (a column name too) at a NUL byte without a
            # word, so the NUL checks below would never see it; refuse the file itself
            raise ApiError.one(422, "file", "not a readable csv table: it contains NUL characters")
        if fmt == "parquet":
            _check_parquet_size(target, max_rows, max_cells)
        try:
            frame = read_table(target, fmt)  # type: ignore[arg-type]
            _check_size(len(frame), len(frame.columns), max_rows, max_cells)
            _check_column_names(frame.columns)
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
        series = frame[column["name"]]
        column["binary"] = is_binary(series)
        column["integer_codes"] = is_integer_codes(series)
        column["infinite"] = count_infinite(series)
        column["values"] = few_values(series)
    schema = json.loads(json.dumps({**schema, "format": fmt}))
    return StoredUpload(path=target, size_bytes=size, content_hash=digest.hexdigest(),
                        schema=schema)


def is_integer_codes(series: Any) -> bool:
    """Whether a numeric or boolean column's present values are all non-negative integers
    (class codes, if few: a binary task refused on it is told to use ``multiclass``)."""
    import numpy as np
    from pandas.api import types as ptypes

    if not (ptypes.is_bool_dtype(series.dtype) or ptypes.is_numeric_dtype(series.dtype)) or \
            ptypes.is_complex_dtype(series.dtype):
        return False
    values = np.asarray(series.dropna().unique(), dtype=float)
    return len(values) > 0 and bool(((values >= 0) & (values == np.floor(values))).all())


#: a column with at most this many distinct values has them recorded (a split column's
#: train/valid/test are then checked when a job is submitted)
FEW_VALUES = 16


def count_infinite(series: Any) -> int:
    """How many values of a numeric column are +-inf (0 for other columns)."""
    import numpy as np
    from pandas.api import types as ptypes

    if ptypes.is_bool_dtype(series.dtype) or not ptypes.is_numeric_dtype(series.dtype):
        return 0
    return int(np.isinf(series.to_numpy(dtype=float, na_value=np.nan)).sum())


def few_values(series: Any) -> list[str] | None:
    """The column's distinct present values as text when there are at most
    :data:`FEW_VALUES` of them, else None."""
    from automtl.data.encode import category_codes

    if series.nunique(dropna=True) > FEW_VALUES:
        return None
    _, texts = category_codes(series)  # the split rule's own text of each value
    return sorted(texts)


def _check_size(rows: int, columns: int, max_rows: int | None,
                max_cells: int | None) -> None:
    if max_rows is not None and rows > max_rows:
        raise ApiError.one(413, "file", f"the table has {rows} rows; at most {max_rows} are "
                                        "accepted (AUTOMTL_MAX_UPLOAD_ROWS)", type_="too_large")
    if max_cells is not None and rows * columns > max_cells:
        raise ApiError.one(413, "file", f"the table has {rows} rows x {columns} columns; at "
                                        f"most {max_cells} cells are accepted "
                                        "(AUTOMTL_MAX_UPLOAD_CELLS)", type_="too_large")


def _check_parquet_size(path: Path, max_rows: int | None, max_cells: int | None) -> None:
    """Rows and columns from the Parquet footer, before anything is decompressed."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(path)
    except Exception:  # noqa: BLE001 - not Parquet at all: read_table reports it
        return
    _check_size(metadata.num_rows, metadata.num_columns, max_rows, max_cells)


def _check_column_names(names: Any) -> None:
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise ApiError.one(422, "file", f"column {i} is named {name!r}, not a string: "
                                            "name every column")
        if "\x00" in name or not name.strip():
            raise ApiError.one(422, "file", f"column {i} has an empty name or one with a NUL "
                                            "character")


def _without_path(message: str, path: Path) -> str:
    """Error text without the server's file path (the client never sees where files live)."""
    return message.replace(repr(str(path)), "the upload").replace(str(path), "the upload")


class BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` once a body (with or without Content-Length) passes its limit;
    an HTTPException, so FastAPI's body parsing passes it on instead of answering 400."""

    def __init__(self, limit: int, variable: str) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes "
                              f"({variable})")


class UploadLimit:
    """ASGI middleware bounding every ``POST`` body: uploads (the given paths) by ``limit``
    plus room for the multipart framing, everything else by ``body_limit``.

    A Content-Length over the limit is answered 413 before the body is read; a body without
    one (chunked) is counted as it arrives and cut with 413 at the limit, so neither is
    spooled whole."""

    def __init__(self, app: Any, paths: tuple[str, ...], limit: int,
                 body_limit: int | None = None) -> None:
        self.app = app
        self.paths = paths
        self.limit = limit
        self.body_limit = body_limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        if scope["path"].rstrip("/") in self.paths:
            limit, variable = self.limit + MULTIPART_SLACK_BYTES, "AUTOMTL_MAX_UPLOAD_BYTES"
            shown = self.limit
        elif self.body_limit is not None:
            limit, variable, shown = self.body_limit, "AUTOMTL_MAX_SPEC_BYTES", self.body_limit
        else:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _send_413(send, shown, variable)
            return
        received = 0

        async def counted() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(shown, variable)
            return message

        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await _send_413(send, shown, variable)


async def _send_413(send: Any, limit: int, variable: str) -> None:
    item = {"loc": ["body"], "path": "", "type": "too_large",
            "msg": f"the request body is larger than the limit of {limit} bytes ({variable})"}
    body = json.dumps({"detail": [item]}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
