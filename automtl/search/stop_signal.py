"""How a stopping search tells its running trials to end at their next batch.

Ray Tune stops a running function trainable by queueing a ``stop`` call on its actor, which
runs only once the training call in flight returns; a trial that reports only at its end (see
:func:`automtl.search.trainable.report_epochs`) kept training until Tune's cleanup gave up
waiting (5 s) and killed the actor. So when the search stops (a cancel), the driver raises a
:class:`StopSignal`: a marker file beside the trials' artifacts, named per run (two runs of one
study never share one: a worker that lost its job must not stop the one that took it over).
Each trial reads it before every batch, at most once per :attr:`StopSignal.interval_s`
seconds (fsspec's ``exists``: a ``stat`` on a local path, a request on a URL, so less
often there), and ends with :class:`~automtl.training.result.TrainingInterrupted`.

A trial that cannot see the marker (a node of a Ray cluster with no shared artifact location)
is still ended by Tune's cleanup, as before.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automtl import artifact_store

logger = logging.getLogger(__name__)

#: seconds between two reads of the marker on a local path, and on an fsspec URL
LOCAL_INTERVAL_S = 0.2
URL_INTERVAL_S = 1.0


@dataclass
class StopSignal:
    """The stop marker of one run: ``<root>/.stop-<token>``, ``root`` a directory or an fsspec
    URL (the trials' artifact root). Picklable: ships to the trials in their context."""

    root: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: seconds between two reads of the marker; None: :data:`LOCAL_INTERVAL_S` on a path,
    #: :data:`URL_INTERVAL_S` on a URL
    poll_s: float | None = None
    _checked_at: float = field(default=-float("inf"), repr=False, compare=False)
    _raised: bool = field(default=False, repr=False, compare=False)

    @property
    def location(self) -> str:
        """The marker's path or URL."""
        name = f".stop-{self.token}"
        if artifact_store.is_url(self.root):
            return artifact_store.join(self.root, name)
        return str(Path(self.root) / name)

    @property
    def interval_s(self) -> float:
        """Seconds between two reads of the marker by :meth:`is_raised`."""
        if self.poll_s is not None:
            return self.poll_s
        return URL_INTERVAL_S if artifact_store.is_url(self.root) else LOCAL_INTERVAL_S

    def _filesystem(self) -> tuple[Any, str]:
        """The marker's fsspec filesystem and path: a local path and a URL alike."""
        import fsspec

        return fsspec.core.url_to_fs(self.location)

    def raise_(self) -> None:
        """Write the marker (the driver, when the search stops). An error writing it is logged,
        not raised: the trials are then ended by Tune's cleanup instead."""
        try:
            filesystem, path = self._filesystem()
            filesystem.makedirs(posixpath.dirname(path), exist_ok=True)
            filesystem.pipe_file(path, b"stop\n")
        except Exception:  # noqa: BLE001 - Tune's cleanup still ends the trials
            logger.warning("could not write the stop marker %s", self.location, exc_info=True)

    def is_raised(self) -> bool:
        """Whether the marker is there (read at most once per :attr:`interval_s`; once seen,
        always True). Cheap enough to call before every batch."""
        if self._raised:
            return True
        now = time.monotonic()
        if now - self._checked_at < self.interval_s:
            return False
        self._checked_at = now
        try:
            filesystem, path = self._filesystem()
            self._raised = bool(filesystem.exists(path))
        except Exception:  # noqa: BLE001 - an unreadable store must not fail the trial
            logger.debug("could not read the stop marker %s", self.location, exc_info=True)
        return self._raised

    def clear(self) -> None:
        """Remove the marker (the driver, once the trials are down); absent is fine."""
        with contextlib.suppress(Exception):
            filesystem, path = self._filesystem()
            if filesystem.exists(path):
                filesystem.rm(path)
