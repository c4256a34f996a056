"""Files the database points at (uploads, trial artifacts) are stored relative to a root.

The data root (uploads) and the artifact root (trial weights, export bundles) are settings, so
moving or restoring those folders, or mounting them elsewhere on another machine, keeps every
stored path valid. Rows written before relative paths keep absolute ones; :func:`resolve_under`
rebases those onto the current root by their tail.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath


def relative_to_root(path: str | Path, root: str | Path) -> str:
    """``path`` as a POSIX path relative to ``root``.

    Raises ValueError when ``path`` is not inside ``root`` (it could not be found again after
    the root moves, so it must not be stored).
    """
    resolved = Path(path).resolve()
    base = Path(root).resolve()
    try:
        return resolved.relative_to(base).as_posix()
    except ValueError:
        raise ValueError(f"{resolved} is not inside the root {base}") from None


def resolve_under(stored: str, root: str | Path, *, tail_parts: int = 2) -> Path:
    """The file a stored path names under ``root`` today.

    A relative path is joined to ``root``. An absolute one (written before paths were stored
    relative) is used when it still exists; otherwise its last ``tail_parts`` components
    (``<study>/trial-<n>`` for artifacts, ``uploads/<file>`` for datasets) are looked up under
    ``root``, which is where a moved or restored root keeps them.
    """
    base = Path(root)
    pure = PurePosixPath(stored)
    if not pure.is_absolute():
        return base / Path(*pure.parts)
    legacy = Path(stored)
    if legacy.exists():
        return legacy
    tail = pure.parts[-tail_parts:]
    return base / Path(*tail)
