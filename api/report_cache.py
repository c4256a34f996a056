"""Serving a job's results under load: a cache of rendered fronts and report pages, rendered
once per version of the job by one request while concurrent ones wait for it, and pages sent
gzip-compressed with a strong ETag (304 on ``If-None-Match``).

A finished job's study no longer changes, so its page and front are kept until evicted (keyed
by the job and its ``finished_at``). A queued or running job's results are keyed by the
progress counters the worker writes to the job's row whenever a trial starts or lands
(:func:`job_version`): a new trial changes the key, so the next request renders again. A
running job's entry is reused for at most ``live_ttl_s`` seconds
(``AUTOMTL_LIVE_RESULTS_TTL_S``) for what changes between counter updates (a running trial's
learning curve); while one request refreshes such an expired entry, the others get it as it
was. A queued job's study does not change until a worker claims it (which makes the job
running: a new key), so its entry does not expire: fifty clients polling a queued job had
re-rendered its report every 5 s. Rendering a report takes ~0.5 s of CPU (plus ~0.1 s to
compress Plotly's 4.5 MB): fifty clients polling one running job rendered it fifty times at
once before, and every other request waited for the CPU.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request, Response

from automtl_storage import Job

#: job statuses whose study (and so whose report) never changes again
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
#: entries kept (a page is kept only gzip-compressed: ~1.4 MB with Plotly inline, ~50 KB shared)
DEFAULT_ENTRIES = 64
#: seconds a running job's rendered results are reused while its progress counters are equal
DEFAULT_LIVE_TTL_S = 5.0

T = TypeVar("T")


@dataclass(frozen=True)
class RenderedPage:
    """One rendered page, kept gzip-compressed (``body`` decompresses it for the rare client
    that does not accept gzip), with its ETag (quoted, strong: a hash of the page)."""

    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, html: str) -> RenderedPage:
        return cls.of_bytes(html.encode("utf-8"))

    @classmethod
    def of_bytes(cls, body: bytes) -> RenderedPage:
        digest = hashlib.sha256(body).hexdigest()[:32]
        # mtime=0: the same page always compresses to the same bytes
        return cls(gzipped=gzip.compress(body, compresslevel=6, mtime=0), etag=f'"{digest}"')

    @property
    def body(self) -> bytes:
        return gzip.decompress(self.gzipped)


def job_version(job: Job) -> tuple[Hashable, ...]:
    """What identifies the state of ``job``'s results: for a finished job its end, otherwise
    its status and the progress counters the worker updates as trials start and land (a
    worker taking the job over bumps ``attempts``)."""
    if job.status.value in FINAL_STATUSES:
        return (job.id, job.study_name, "final", str(job.finished_at))
    return (job.id, job.study_name, job.status.value, job.attempts, job.trials_finished,
            job.trials_failed, job.trials_running, job.front_size)


@dataclass
class _Entry:
    value: Any
    expires: float | None  # monotonic seconds; None: kept until evicted


@dataclass
class _Flight:
    """A render in progress: the requests that want the same key wait for its outcome."""

    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None


class ResultCache:
    """A thread-safe LRU of rendered results with single-flight rendering.

    ``get_or_render(key, render, ttl_s)`` returns the value kept for ``key`` when it has not
    expired; otherwise one caller runs ``render()`` while every concurrent caller of the same
    key waits for that value (or gets its exception) instead of rendering it again. While an
    expired entry is being refreshed, the other callers of its key get the expired value
    (the key names the version, so it only misses what the TTL bounds). ``renders`` counts the
    renders run, ``waits`` the callers served by another's render, ``stale`` the callers
    answered with an expired value during its refresh."""

    def __init__(self, entries: int = DEFAULT_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if entries < 1:
            raise ValueError(f"entries: must be >= 1, got {entries}")
        self._capacity = entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._flights: dict[Hashable, _Flight] = {}
        self._lock = threading.Lock()
        self.renders = 0
        self.waits = 0
        self.stale = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get_or_render(self, key: Hashable, render: Callable[[], T],
                      ttl_s: float | None = None) -> T:
        """The value for ``key``: kept, being rendered by another caller, or rendered now and
        kept for ``ttl_s`` seconds (``None``: until evicted)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (entry.expires is None or self._clock() < entry.expires):
                self._entries.move_to_end(key)
                return entry.value
            flight = self._flights.get(key)
            if flight is not None and entry is not None:
                # another caller refreshes this expired entry of the same version: answer
                # with it meanwhile instead of queueing behind the render
                self.stale += 1
                return entry.value
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
            else:
                self.waits += 1
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value
        try:
            value = render()
        except BaseException as exc:
            flight.error = exc
            raise
        else:
            flight.value = value
            with self._lock:
                self.renders += 1
                expires = None if ttl_s is None else self._clock() + ttl_s
                self._entries[key] = _Entry(value, expires)
                self._entries.move_to_end(key)
                while len(self._entries) > self._capacity:
                    self._entries.popitem(last=False)
            return value
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()

    def for_job(self, job: Job, kind: Hashable, render: Callable[[], T],
                live_ttl_s: float = DEFAULT_LIVE_TTL_S) -> T:
        """``render()``'s value for this version of ``job`` (see :func:`job_version`);
        ``kind`` tells apart what is cached for one job (the front, each report mode).

        Only a running job's entry expires (after ``live_ttl_s``): nothing writes to a queued
        job's study (a worker that claims it makes it running, a new version), so its entry
        is kept like a finished job's until the version changes or it is evicted."""
        return self.get_or_render((kind, *job_version(job)), render,
                                  live_ttl_s if job.status.value == "running" else None)


def result_cache(request: Request) -> ResultCache:
    """The app's cache (``app.state.result_cache``, made by ``create_app``)."""
    return request.app.state.result_cache


def etag_matches(header: str | None, etag: str) -> bool:
    """``If-None-Match`` matches ``etag`` (``*``, a list, weak ``W/`` forms all count)."""
    if not header:
        return False
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)


def page_response(request: Request, page: RenderedPage, media_type: str = "text/html",
                  cache_control: str = "private, no-cache",
                  headers: dict[str, str] | None = None) -> Response:
    """304 when the client has this version; else the page, gzip-compressed when the client
    accepts it. ``Vary: Accept-Encoding`` so shared caches keep both forms apart; ``headers``
    are added to both answers."""
    headers = {**(headers or {}), "ETag": page.etag, "Cache-Control": cache_control,
               "Vary": "Accept-Encoding"}
    if etag_matches(request.headers.get("if-none-match"), page.etag):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        headers["Content-Encoding"] = "gzip"
        return Response(page.gzipped, media_type=media_type, headers=headers)
    return Response(page.body, media_type=media_type, headers=headers)
