"""Server paths out of what clients read: error messages and stored file paths.

Errors raised deep in the library name files by their absolute path (``cannot read
'/srv/automtl-data/datasets/3f...csv'``). The worker stores job and trial errors through
:func:`scrub_paths`, and the API scrubs again when it answers (rows stored before this module
existed), so no response shows where the server keeps its files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

# an absolute POSIX path not preceded by a word character, ':' (URLs), '/' or '.'
_ABSOLUTE = re.compile(r"(?<![\w:/.~-])(/(?:[^\s'\"/:,;()\[\]]+/)*[^\s'\"/:,;()\[\]]+/?)")


def scrub_paths(text: str | None, roots: Iterable[str | Path] = ()) -> str | None:
    """``text`` with each path under one of ``roots`` made relative to it and every other
    absolute path cut to its last component; ``None`` stays ``None``."""
    if text is None:
        return None
    for root in sorted((str(r).rstrip("/") for r in roots), key=len, reverse=True):
        if root:
            text = text.replace(root + "/", "")
    return _ABSOLUTE.sub(lambda m: PurePosixPath(m.group(1)).name or "/", text)


def relative_path(path: str | None, roots: Iterable[str | Path]) -> str | None:
    """A stored file path as the client may see it: relative to the first root that holds it,
    else only its file name."""
    if path is None:
        return None
    if not Path(path).is_absolute():  # stored relative to its root already
        return path
    for root in roots:
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            continue
    return Path(path).name
