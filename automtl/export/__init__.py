"""Export a trial of a search as a training bundle: config.yaml, train.py, a torch-only
model.py, the trained weights, TorchScript and a README (see :mod:`automtl.export.bundle`).

The public names are re-exported here with plain imports (no lazy module ``__getattr__``).
"""

from __future__ import annotations

from automtl.export.bundle import ExportResult, export_trial, write_bundle, zip_bundle
from automtl.export.cache import CachedBundle, cached_bundle_zip
from automtl.export.choice import Choice, choose_trial, parse_prefer
from automtl.export.config_file import BundleConfig, load_bundle_config, save_bundle_config
from automtl.export.errors import (
    ArtifactMissingError,
    BundleConfigError,
    ExportError,
    OutputDirectoryError,
    PreferenceError,
    TrialNotFinishedError,
    TrialNotFoundError,
)
from automtl.export.sources import (
    ExportSource,
    TrialRecord,
    job_source,
    search_dir_source,
    select_trial,
)
from automtl.export.standalone import model_source

__all__ = [
    "ArtifactMissingError",
    "BundleConfig",
    "BundleConfigError",
    "CachedBundle",
    "Choice",
    "ExportError",
    "OutputDirectoryError",
    "PreferenceError",
    "ExportResult",
    "ExportSource",
    "TrialNotFinishedError",
    "TrialNotFoundError",
    "TrialRecord",
    "cached_bundle_zip",
    "choose_trial",
    "export_trial",
    "job_source",
    "load_bundle_config",
    "model_source",
    "parse_prefer",
    "save_bundle_config",
    "search_dir_source",
    "select_trial",
    "write_bundle",
    "zip_bundle",
]

