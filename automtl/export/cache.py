"""A trial's bundle zip built once and served many times, with a stable ETag.

The key hashes everything the zip's content depends on: the bundle format, automtl's version,
the source's label and info, the trial's record (metrics, costs; not where its files lie), the
front choice (``choice.json``) and the bytes of the saved weights and configs. Equal keys mean an
equal zip, so the key is the HTTP ``ETag`` and the zip's file name, and a repeated export serves
the file already built instead of writing a new one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from automtl import artifact_store
from automtl.export.bundle import write_bundle, zip_bundle
from automtl.export.choice import Choice
from automtl.export.sources import (
    ExportSource,
    Selection,
    TrialArtifacts,
    TrialRecord,
    load_artifacts,
    select_trial,
)

#: bump when the bundle's files change for the same inputs, so cached zips are rebuilt
BUNDLE_FORMAT = 1


@dataclass(frozen=True)
class CachedBundle:
    """A bundle zip in the cache: where it is, its key (the ETag), the trial it holds,
    whether this call built it (False: it was already there) and the choice that picked the
    trial (None: exported by number)."""

    path: Path
    key: str
    record: TrialRecord
    built: bool
    choice: Choice | None = None

    @property
    def etag(self) -> str:
        """The strong HTTP entity tag, quotes included."""
        return f'"{self.key}"'


def bundle_key(source: ExportSource, selection: Selection, artifacts: TrialArtifacts) -> str:
    """SHA-256 (hex) of everything the bundle's content depends on."""
    record = dataclasses.asdict(selection.record)
    record.pop("artifact", None)
    payload = {
        "format": BUNDLE_FORMAT, "automtl": _automtl_version(), "label": source.label,
        "info": source.info, "trial": record,
        "choice": selection.choice.to_dict() if selection.choice is not None else None,
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode())
    for path in sorted(artifacts.directory.iterdir()):
        if path.is_file() and not path.name.startswith("."):  # not the fetch cache's lock
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def cached_bundle_zip(source: ExportSource, cache_dir: str | Path, folder_template: str, *,
                      trial: int | None = None,
                      prefer: Mapping[str, float] | None = None) -> CachedBundle:
    """The zip of trial ``trial`` (or of the front trial ``prefer`` chooses) under
    ``cache_dir``, built only when no zip with the same key is there yet.

    The archive's files lie under ``folder_template.format(number=<trial number>)``, e.g.
    ``"automtl-job-3-trial-{number}"``. Raises what :func:`select_trial` and
    :func:`load_artifacts` raise (trial not found, not finished, artifacts missing). A zip is
    written under a temporary name and renamed into place, so concurrent exports of one trial
    never serve a half-written file. Artifacts fetched from an object store stay locked in the
    fetch cache until the zip is written (:func:`automtl.artifact_store.holding`).
    """
    selection = select_trial(source, trial, prefer)
    with artifact_store.holding():
        artifacts = load_artifacts(source, selection.record)
        key = bundle_key(source, selection, artifacts)
        folder = folder_template.format(number=selection.record.number)
        cache = Path(cache_dir)
        target = cache / f"{_safe(folder)}-{key[:20]}.zip"
        if target.is_file():
            return CachedBundle(target, key, selection.record, built=False,
                                choice=selection.choice)
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache, prefix=".export-") as tmp:
            result = write_bundle(Path(tmp) / "bundle", source, selection.record, artifacts,
                                  selection.choice)
            archive = zip_bundle(result.directory, Path(tmp) / "bundle.zip", folder)
            os.replace(archive, target)
    return CachedBundle(target, key, selection.record, built=True, choice=selection.choice)


def _automtl_version() -> str:
    """The installed automtl's version (the generated files may change between releases)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("automtl")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "bundle"
