"""The artifact fetch cache (automtl.artifact_store.fetch) on fsspec's memory filesystem: keyed
by the URL and each file's version (size, created/mtime/ETag), so a trial rewritten at the same
URL is fetched again; bounded in size, least recently used entries removed first."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fsspec
import pytest

from automtl import artifact_store


@pytest.fixture
def url() -> Iterator[str]:
    root = f"memory://cache-{uuid.uuid4().hex[:8]}"
    yield root
    fs, path = fsspec.core.url_to_fs(root)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def write(url: str, trial: str, weights: bytes, candidate: bytes | None = b"{}") -> str:
    folder = f"{url}/{trial}"
    fs, root = fsspec.core.url_to_fs(folder)
    fs.makedirs(root, exist_ok=True)
    fs.pipe_file(f"{root}/model.pt", weights)
    if candidate is not None:
        fs.pipe_file(f"{root}/candidate.json", candidate)
    return folder


def test_an_unchanged_trial_is_served_from_the_cache_without_a_download(
        tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write(url, "trial-0", b"weights v1")
    first = artifact_store.fetch(folder, tmp_path)
    assert (first / "model.pt").read_bytes() == b"weights v1"
    downloads: list[str] = []
    original = fsspec.get_filesystem_class("memory").get_file

    def counting(self, remote, local, **kwargs):  # type: ignore[no-untyped-def]
        downloads.append(remote)
        return original(self, remote, local, **kwargs)

    monkeypatch.setattr(fsspec.get_filesystem_class("memory"), "get_file", counting)
    assert artifact_store.fetch(folder, tmp_path) == first and downloads == []


@pytest.mark.parametrize("new", [b"weights v2 is longer", b"weights v2"])  # same size too
def test_a_trial_rewritten_at_the_same_url_is_fetched_again(tmp_path: Path, url: str,
                                                            new: bytes) -> None:
    folder = write(url, "trial-0", b"weights v1")
    old = artifact_store.fetch(folder, tmp_path)
    time.sleep(0.01)  # the memory filesystem stamps each write with its creation time
    write(url, "trial-0", new)
    fresh = artifact_store.fetch(folder, tmp_path)
    assert fresh != old and (fresh / "model.pt").read_bytes() == new


def test_a_file_missing_remotely_stays_missing_and_appears_once_written(tmp_path: Path,
                                                                       url: str) -> None:
    folder = write(url, "trial-0", b"w", candidate=None)
    local = artifact_store.fetch(folder, tmp_path)
    assert (local / "model.pt").is_file() and not (local / "candidate.json").exists()
    assert not (local / "model_config.json").exists()
    write(url, "trial-0", b"w", candidate=b'{"a": 1}')
    assert (artifact_store.fetch(folder, tmp_path) / "candidate.json").read_bytes() == \
        b'{"a": 1}'


def test_the_cache_keeps_the_most_recently_used_entries_within_its_bound(tmp_path: Path,
                                                                        url: str) -> None:
    kib = b"x" * 1024
    a, b, c = (write(url, f"trial-{i}", kib, candidate=None) for i in range(3))
    first_a = artifact_store.fetch(a, tmp_path, max_bytes=2048)
    time.sleep(0.02)
    first_b = artifact_store.fetch(b, tmp_path, max_bytes=2048)
    time.sleep(0.02)
    assert artifact_store.fetch(a, tmp_path, max_bytes=2048) == first_a  # a used again
    time.sleep(0.02)
    first_c = artifact_store.fetch(c, tmp_path, max_bytes=2048)
    # b is the least recently used: removed; a (used since) and c (just fetched) are kept
    assert not first_b.exists() and first_a.is_dir() and first_c.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first_a.name, first_c.name])
    # an entry larger than the bound is still returned whole; the others make room for it
    big = artifact_store.fetch(write(url, "trial-big", kib * 3, candidate=None), tmp_path,
                               max_bytes=2048)
    assert (big / "model.pt").stat().st_size == 3072 and list(tmp_path.iterdir()) == [big]


def test_a_negative_bound_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValueError, match="max_bytes must be >= 0"):
        artifact_store.fetch(write(url, "trial-0", b"w"), tmp_path, max_bytes=-1)


#: a reader in another process: fetches an entry inside ``holding()`` and keeps it until told
HOLDER = """
import sys
from pathlib import Path
from automtl import artifact_store
with artifact_store.holding():
    local = artifact_store.fetch(sys.argv[1], Path(sys.argv[2]), max_bytes=2048)
    print(local, flush=True)
    sys.stdin.readline()
    print((local / "model.pt").read_bytes().decode(), flush=True)
"""


def test_an_entry_held_by_a_reader_in_another_process_is_not_evicted(tmp_path: Path) -> None:
    """Another process's fetches leave a held entry alone, even past the bound, and evict it
    once the reader lets go."""
    store, cache = tmp_path / "store", tmp_path / "cache"
    url = f"file://{store}"
    a, b, c, d = (write(url, f"trial-{i}", bytes([65 + i]) * 1024, candidate=None)
                  for i in range(4))
    reader = subprocess.Popen([sys.executable, "-c", HOLDER, a, str(cache)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdin is not None
        held = Path(reader.stdout.readline().strip())
        time.sleep(0.02)
        artifact_store.fetch(b, cache, max_bytes=2048)
        time.sleep(0.02)
        fetched_c = artifact_store.fetch(c, cache, max_bytes=2048)
        # a is the least recently used, but held: b goes instead, and the cache stays over
        # its bound rather than pull the folder from under the reader
        assert held.is_dir() and (held / "model.pt").read_bytes() == b"A" * 1024
        assert sorted(p.name for p in cache.iterdir()) == sorted([held.name, fetched_c.name])
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "A" * 1024  # read whole after the fetches
        assert reader.wait(timeout=30) == 0
    finally:
        reader.kill()
    time.sleep(0.02)
    fetched_d = artifact_store.fetch(d, cache, max_bytes=2048)
    assert not held.exists() and fetched_d.is_dir()  # released: evicted like any other


def test_holding_keeps_entries_across_threads_until_the_block_ends(tmp_path: Path,
                                                                   url: str) -> None:
    kib = b"x" * 1024
    a, b, c = (write(url, f"trial-{i}", kib, candidate=None) for i in range(3))
    with artifact_store.holding():
        held = artifact_store.fetch(a, tmp_path, max_bytes=1024)
        time.sleep(0.02)
        with ThreadPoolExecutor(1) as pool:  # another thread's fetch evicts by the bound
            other = pool.submit(artifact_store.fetch, b, tmp_path, max_bytes=1024).result()
        assert held.is_dir() and other.is_dir()
    time.sleep(0.02)
    artifact_store.fetch(c, tmp_path, max_bytes=1024)
    assert not held.exists() and not other.exists()  # neither is held any more
