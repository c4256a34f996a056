"""Export a trial of a search as a training bundle: config.yaml, train.py, a torch-only
model.py, the trained weights, TorchScript and a README (see :mod:`automtl.export.bundle`).

The names are imported lazily so that ``train.py`` loading a config does not import the
exporter (and ``automtl --help`` stays fast).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automtl.export.bundle import ExportResult, export_trial, write_bundle, zip_bundle
    from automtl.export.cache import CachedBundle, cached_bundle_zip
    from automtl.export.choice import Choice, choose_trial, parse_prefer
    from automtl.export.config_file import BundleConfig, load_bundle_config, save_bundle_config
    from automtl.export.errors import (
        ArtifactMissingError,
        BundleConfigError,
        ExportError,
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

_WHERE = {
    "ExportResult": "automtl.export.bundle",
    "export_trial": "automtl.export.bundle",
    "write_bundle": "automtl.export.bundle",
    "zip_bundle": "automtl.export.bundle",
    "CachedBundle": "automtl.export.cache",
    "cached_bundle_zip": "automtl.export.cache",
    "Choice": "automtl.export.choice",
    "choose_trial": "automtl.export.choice",
    "parse_prefer": "automtl.export.choice",
    "BundleConfig": "automtl.export.config_file",
    "load_bundle_config": "automtl.export.config_file",
    "save_bundle_config": "automtl.export.config_file",
    "ArtifactMissingError": "automtl.export.errors",
    "BundleConfigError": "automtl.export.errors",
    "ExportError": "automtl.export.errors",
    "TrialNotFinishedError": "automtl.export.errors",
    "TrialNotFoundError": "automtl.export.errors",
    "ExportSource": "automtl.export.sources",
    "TrialRecord": "automtl.export.sources",
    "job_source": "automtl.export.sources",
    "search_dir_source": "automtl.export.sources",
    "select_trial": "automtl.export.sources",
    "model_source": "automtl.export.standalone",
}

__all__ = [
    "ArtifactMissingError",
    "BundleConfig",
    "BundleConfigError",
    "CachedBundle",
    "Choice",
    "ExportError",
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


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'automtl.export' has no attribute {name!r}")
