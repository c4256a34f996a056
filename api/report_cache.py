"""Serving the report page: gzip, a strong ETag (304 on ``If-None-Match``) and a bounded cache
of the pages of finished jobs.

A finished job's study no longer changes, so its page is rendered once per (job, Plotly mode)
and kept, compressed, in a small LRU cache held by the app (``app.state.report_cache``); a
running job's page is rendered on every request, and its ETag (a hash of the page) still lets
a browser skip the download when nothing changed.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request, Response

#: job statuses whose study (and so whose report) never changes again
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
#: finished pages kept (each ~100-300 KB compressed with Plotly inline, ~20-60 KB shared)
DEFAULT_ENTRIES = 32


@dataclass(frozen=True)
class RenderedPage:
    """One rendered page: its bytes, gzip-compressed bytes and ETag (quoted, strong)."""

    body: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, html: str) -> RenderedPage:
        return cls.of_bytes(html.encode("utf-8"))

    @classmethod
    def of_bytes(cls, body: bytes) -> RenderedPage:
        digest = hashlib.sha256(body).hexdigest()[:32]
        # mtime=0: the same page always compresses to the same bytes
        return cls(body=body, gzipped=gzip.compress(body, compresslevel=6, mtime=0),
                   etag=f'"{digest}"')


class ReportCache:
    """A thread-safe LRU of rendered pages keyed by ``(job id, finished_at, mode)``."""

    def __init__(self, entries: int = DEFAULT_ENTRIES) -> None:
        self._entries = entries
        self._pages: OrderedDict[tuple[object, ...], RenderedPage] = OrderedDict()
        self._lock = threading.Lock()
        self.renders = 0

    def get_or_render(self, key: tuple[object, ...] | None,
                      render: Callable[[], str]) -> RenderedPage:
        """The cached page for ``key``, or ``render()`` it (and keep it unless ``key`` is
        None, i.e. the job is still running)."""
        if key is not None:
            with self._lock:
                page = self._pages.get(key)
                if page is not None:
                    self._pages.move_to_end(key)
                    return page
        page = RenderedPage.of(render())
        self.renders += 1
        if key is not None:
            with self._lock:
                self._pages[key] = page
                while len(self._pages) > self._entries:
                    self._pages.popitem(last=False)
        return page


def report_cache(request: Request) -> ReportCache:
    """The app's cache (created on first use)."""
    state = request.app.state
    cache = getattr(state, "report_cache", None)
    if cache is None:
        cache = state.report_cache = ReportCache()
    return cache


def etag_matches(header: str | None, etag: str) -> bool:
    """``If-None-Match`` matches ``etag`` (``*``, a list, weak ``W/`` forms all count)."""
    if not header:
        return False
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)


def page_response(request: Request, page: RenderedPage, media_type: str = "text/html",
                  cache_control: str = "private, no-cache") -> Response:
    """304 when the client has this version; else the page, gzip-compressed when the client
    accepts it. ``Vary: Accept-Encoding`` so shared caches keep both forms apart."""
    headers = {"ETag": page.etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    if etag_matches(request.headers.get("if-none-match"), page.etag):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        headers["Content-Encoding"] = "gzip"
        return Response(page.gzipped, media_type=media_type, headers=headers)
    return Response(page.body, media_type=media_type, headers=headers)
