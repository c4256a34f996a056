"""Why an export could not be made: each error says which trial, file or field is at fault."""

from __future__ import annotations


class ExportError(Exception):
    """An export failed for a reason the user can act on (the message says which)."""


class TrialNotFoundError(ExportError, LookupError):
    """The job (or search) has no trial with that number (HTTP 404)."""


class TrialNotFinishedError(ExportError):
    """The trial exists but is not complete, so there is nothing to export yet (HTTP 409)."""


class ArtifactMissingError(ExportError):
    """A finished trial whose saved weights or configs are no longer on disk (HTTP 410)."""


class BundleConfigError(ExportError, ValueError):
    """A bundle's ``config.yaml`` is unreadable or invalid; the message names the field."""


class PreferenceError(ExportError, ValueError):
    """The objective weights that choose a front trial are malformed or do not fit the job.
    The message names no option: the CLI says ``--prefer``, REST its ``prefer`` parameter."""


class OutputDirectoryError(ExportError):
    """The bundle directory exists and is not empty (or is a file). The message names no
    option: the CLI adds how to overwrite it (``--force``)."""
