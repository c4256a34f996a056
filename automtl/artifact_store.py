"""Trial artifacts in an object store (any fsspec URL), so every worker and the API reach them.

By default a trial's weights and configs are written to ``<artifact_dir>/<study>/trial-<n>/`` on
the machine that trained it: fine on one machine or with a shared volume. With an artifact URL
(``AUTOMTL_ARTIFACT_URL=s3://bucket/automtl``, ``gs://...``, ``file:///mnt/shared/...``, any
protocol fsspec knows and whose package is installed, e.g. ``s3fs`` for ``s3://``), the trial
writes to a local scratch folder and :func:`publish` uploads it to ``<url>/<study>/trial-<n>``;
readers (the export, the API's bundle route) :func:`fetch` it into a local cache first (keyed by
the URL and each file's size and version, so a rewritten trial is fetched again; bounded by
:data:`CACHE_MAX_BYTES`, least recently used entries removed first). A reader that fetches
inside :func:`holding` keeps a shared file lock on each entry it fetched until the block ends,
and eviction (by any process sharing the cache) leaves a locked entry alone.

fsspec (https://filesystem-spec.readthedocs.io) does the transfers; credentials come from the
usual places of each filesystem (environment, config files), never from a job spec.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: entries are not locked (see holding)
    fcntl = None  # type: ignore[assignment]

#: the files of a trial's artifact folder (written by ``automtl.search.trainable.save_artifacts``
#: and read by ``automtl.export.sources``)
ARTIFACT_FILES = ("model.pt", "candidate.json", "model_config.json")


def is_url(location: str | Path | None) -> bool:
    """Whether ``location`` names an fsspec URL (``proto://...``) rather than a local path."""
    return isinstance(location, str) and "://" in location


def join(url: str, *parts: str) -> str:
    """``url`` with ``parts`` appended, one ``/`` between each."""
    return "/".join([url.rstrip("/"), *(p.strip("/") for p in parts if p)])


def check_url(url: str) -> str:
    """``url`` if fsspec can open its protocol here; ``ValueError`` naming the missing package
    (``s3://`` needs ``s3fs``, ...) or the unknown protocol otherwise."""
    import fsspec

    if not is_url(url):
        raise ValueError(f"{url!r} is not a URL (protocol://location), e.g. s3://bucket/path")
    protocol = url.split("://", 1)[0]
    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as exc:
        raise ValueError(f"{url}: fsspec cannot open {protocol!r} here: {exc}") from None
    return url.rstrip("/")


def publish(directory: Path, url: str) -> str:
    """Upload the artifact files of ``directory`` to the folder ``url``; returns ``url``.
    Each file is written whole (``put_file``), so a reader sees old or new, never a part."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    fs.makedirs(root, exist_ok=True)
    for name in ARTIFACT_FILES:
        local = directory / name
        if local.is_file():
            fs.put_file(str(local), f"{root.rstrip('/')}/{name}")
    return url


#: the fetch cache's default folder (under the system's temporary directory)
CACHE_DIRNAME = "automtl-artifact-cache"
#: the fetch cache's default size bound: beyond it, the least recently used trial folders are
#: removed after a fetch (2 GiB; a trial folder holds one model's weights and two JSON files)
CACHE_MAX_BYTES = 2 * 1024**3
#: the keys of an fsspec ``info``/``ls`` entry that change when an object is rewritten, where
#: the filesystem has them (S3: ETag, LastModified; GCS: md5Hash, generation, updated; local:
#: mtime; memory: created); the size always counts
VERSION_KEYS = ("size", "ETag", "etag", "md5Hash", "crc32c", "generation", "LastModified",
                "last_modified", "updated", "mtime", "modified", "created")


def fetch(url: str, cache_dir: Path | None = None,
          max_bytes: int = CACHE_MAX_BYTES) -> Path:
    """A local folder with the artifact files of the folder ``url``, downloaded into the cache
    ``cache_dir`` (default ``<tmp>/automtl-artifact-cache``).

    The cache entry is keyed by the URL plus each file's fsspec listing (its size and whatever
    of :data:`VERSION_KEYS` the filesystem reports: ETag/mtime/...), read with one ``ls`` per
    fetch, so a trial rewritten at the same URL is downloaded again rather than served stale.
    A file missing remotely stays missing locally, so the reader's own "missing" error names
    it. After a fetch, the least recently used entries (each use refreshes an entry's time)
    are removed until the cache holds at most ``max_bytes`` (:data:`CACHE_MAX_BYTES`); the
    entry just fetched is kept even when it alone is larger, and so is every entry a reader
    holds (:func:`holding`). Inside ``with holding():`` the returned folder stays locked until
    the block ends; outside, nothing holds it once this returns, so another process's fetch
    may evict it (read it at once, or hold it). Raises ``ValueError`` for ``max_bytes < 0``;
    fsspec's own errors for an unreachable store.
    """
    import fsspec

    if max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
    cache = cache_dir or Path(tempfile.gettempdir()) / CACHE_DIRNAME
    fs, root = fsspec.core.url_to_fs(url)
    root = root.rstrip("/")
    versions = _versions(fs, root)
    key = json.dumps([url, versions], sort_keys=True, default=str)
    local = cache / hashlib.sha256(key.encode()).hexdigest()[:32]
    lock = _lock_entry(local)  # shared: other readers go on, eviction waits for the release
    try:
        for name in ARTIFACT_FILES:
            target = local / name
            if target.is_file() or versions.get(name) is None:
                continue
            partial = target.with_suffix(target.suffix + f".{os.getpid()}.part")
            fs.get_file(f"{root}/{name}", str(partial))
            partial.replace(target)  # whole or absent: a concurrent reader never sees a part
        os.utime(local)  # this entry is now the most recently used
        evict(cache, max_bytes, keep=local)
    except BaseException:
        _unlock(lock)
        raise
    held = _HELD.get()
    if held is None:
        _unlock(lock)
    else:
        held.append(lock)
    return local


#: the lock file inside each cache entry (a reader holds it shared, eviction exclusive)
LOCK_FILE = ".lock"
#: the lock descriptors :func:`holding` keeps for the current block (``None`` outside one)
_HELD: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "automtl_artifact_leases", default=None)


@contextlib.contextmanager
def holding() -> Iterator[None]:
    """Keep every cache entry :func:`fetch` returns inside the block locked (a shared
    ``flock`` on the entry's :data:`LOCK_FILE`) until the block ends, so no process's
    eviction removes a folder while it is being read (the export reads a trial's weights long
    after the fetch). Blocks nest; readers of one entry do not wait for each other. Where
    ``fcntl`` is missing (Windows) nothing is locked."""
    outer = _HELD.get()
    held: list[int] = []
    token = _HELD.set(held)
    try:
        yield
    finally:
        _HELD.reset(token)
        if outer is not None:
            outer.extend(held)  # an enclosing block releases them
        else:
            for fd in held:
                _unlock(fd)


def _lock_entry(local: Path) -> int:
    """Create the entry folder ``local`` if needed and take a shared lock on its lock file;
    returns the descriptor (``-1`` without ``fcntl``). Retries when an eviction removed the
    folder between the open and the lock (the lock would then be on a deleted file)."""
    while True:
        local.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            return -1
        try:
            fd = os.open(local / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # evicted between the mkdir and the open
            continue
        fcntl.flock(fd, fcntl.LOCK_SH)
        if _still_there(fd, local / LOCK_FILE):
            return fd
        os.close(fd)


def _still_there(fd: int, path: Path) -> bool:
    """Whether ``path`` is still the file open as ``fd`` (not removed or replaced)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _unlock(fd: int) -> None:
    if fd >= 0:
        os.close(fd)  # closing the descriptor releases its flock


def _remove_unless_held(entry: Path) -> bool:
    """Remove the cache entry ``entry`` unless a reader holds its lock; whether it was
    removed. The exclusive lock is taken without waiting and kept while the folder goes."""
    if fcntl is None:
        shutil.rmtree(entry, ignore_errors=True)
        return True
    try:
        fd = os.open(entry / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:  # removed meanwhile by another process
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # in use
        if not _still_there(fd, entry / LOCK_FILE):
            return False
        shutil.rmtree(entry, ignore_errors=True)
        return True
    finally:
        os.close(fd)


def _versions(fs: Any, root: str) -> dict[str, dict[str, Any] | None]:
    """Each artifact file's version fields (:data:`VERSION_KEYS`), ``None`` when absent."""
    try:
        entries = fs.ls(root, detail=True)
    except FileNotFoundError:
        entries = []
    by_name = {str(e.get("name", "")).rstrip("/").rsplit("/", 1)[-1]: e for e in entries
               if e.get("type", "file") == "file"}
    out: dict[str, dict[str, Any] | None] = {}
    for name in ARTIFACT_FILES:
        entry = by_name.get(name)
        out[name] = None if entry is None else \
            {k: str(entry[k]) for k in VERSION_KEYS if entry.get(k) is not None}
    return out


def evict(cache: Path, max_bytes: int, keep: Path | None = None) -> list[Path]:
    """Remove the least recently used entries of the fetch cache ``cache`` (by each entry
    folder's modification time, which :func:`fetch` refreshes on use) until its files total
    at most ``max_bytes``; ``keep`` is never removed, nor is an entry a reader holds
    (:func:`holding`: its lock is taken exclusively, without waiting, before the folder is
    removed). Returns the removed folders, oldest first. An entry another process removes
    meanwhile is skipped."""
    entries = []
    for entry in cache.iterdir() if cache.is_dir() else []:
        if not entry.is_dir():
            continue
        try:
            size = sum(f.stat().st_size for f in entry.iterdir() if f.is_file())
            entries.append((entry.stat().st_mtime_ns, entry, size))
        except FileNotFoundError:
            continue
    total = sum(size for _, _, size in entries)
    removed = []
    for _, entry, size in sorted(entries, key=lambda item: item[0]):
        if total <= max_bytes:
            break
        if keep is not None and entry == keep:
            continue
        if not _remove_unless_held(entry):
            continue
        total -= size
        removed.append(entry)
    return removed
