"""Trial artifacts in an object store (any fsspec URL), so every worker and the API reach them.

By default a trial's weights and configs are written to ``<artifact_dir>/<study>/trial-<n>/`` on
the machine that trained it: fine on one machine or with a shared volume. With an artifact URL
(``AUTOMTL_ARTIFACT_URL=s3://bucket/automtl``, ``gs://...``, ``file:///mnt/shared/...``, any
protocol fsspec knows and whose package is installed, e.g. ``s3fs`` for ``s3://``), the trial
writes to a local scratch folder and :func:`publish` uploads it to ``<url>/<study>/trial-<n>``;
readers (the export, the API's bundle route) :func:`fetch` it into a local cache first.

fsspec (https://filesystem-spec.readthedocs.io) does the transfers; credentials come from the
usual places of each filesystem (environment, config files), never from a job spec.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

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


def fetch(url: str, cache_dir: Path | None = None) -> Path:
    """A local folder with the artifact files of the folder ``url`` (downloaded once into
    ``cache_dir``, default ``<tmp>/automtl-artifact-cache``; a file missing remotely stays
    missing locally, so the reader's own "missing" error names it)."""
    import fsspec

    cache = cache_dir or Path(tempfile.gettempdir()) / "automtl-artifact-cache"
    local = cache / hashlib.sha256(url.encode()).hexdigest()[:24]
    fs, root = fsspec.core.url_to_fs(url)
    local.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACT_FILES:
        target = local / name
        if target.is_file():
            continue
        remote = f"{root.rstrip('/')}/{name}"
        if fs.exists(remote):
            partial = target.with_suffix(target.suffix + ".part")
            fs.get_file(remote, str(partial))
            partial.replace(target)
    return local
