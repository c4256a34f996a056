"""``automtl report --search-dir DIR``: the report of a local search (``automtl search --out
DIR``) read from its study, with no server: the same HTML page, front JSON and CSV the service
serves for a job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from automtl.commands.console import UserError


def open_search_study(directory: str | Path, *, storage_url: str | None = None,
                      study_name: str | None = None) -> tuple[Any, Any]:
    """``(study, spec)`` of a search directory (its ``automtl.db`` unless ``storage_url``);
    raises :class:`UserError` naming ``--search-dir``/``--study`` when they do not fit."""
    import optuna

    from automtl.jobspec import JobSpec
    from automtl.search.study import STUDY_SPEC_ATTR, open_storage
    from automtl.trial_record import study_attrs

    directory = Path(directory).resolve()
    if storage_url is None:
        database = directory / "automtl.db"  # automtl.search.runner.default_storage_url
        if not database.is_file():
            raise UserError(f"{directory} is not a search directory: {database.name} not found "
                            "(pass the --out of 'automtl search', or --db URL)",
                            field="--search-dir")
        storage_url = f"sqlite:///{database}"
    storage = open_storage(storage_url)
    names = optuna.get_all_study_names(storage)
    if study_name is None:
        if len(names) != 1:
            raise UserError(f"{storage_url} holds {len(names)} studies; choose one with "
                            f"--study: {sorted(names)}", field="--study")
        study_name = names[0]
    elif study_name not in names:
        raise UserError(f"no study {study_name!r} in {storage_url}; studies: {sorted(names)}",
                        field="--study")
    study = optuna.load_study(study_name=study_name, storage=storage)
    document = study_attrs(study).get(STUDY_SPEC_ATTR)
    if document is None:
        raise UserError(f"study {study_name!r} was not made by automtl (no job spec stored)",
                        field="--study")
    return study, JobSpec.model_validate(document)


def local_report(directory: str | Path, fmt: str, *, storage_url: str | None = None,
                 study_name: str | None = None) -> str:
    """The report of a local search as ``fmt``: ``html`` (the page), ``json`` (the front, the
    shape of ``GET /jobs/{id}/pareto``) or ``csv`` (one row per front trial)."""
    from automtl.report.html import report_from_study
    from automtl.report.pareto import pareto_front

    study, spec = open_search_study(directory, storage_url=storage_url, study_name=study_name)
    front = pareto_front(study, spec)
    if fmt == "html":
        return report_from_study(study, spec, front=front,
                                 subtitle=f"local search {Path(directory)}, study "
                                          f"{study.study_name}")
    if fmt == "csv":
        return _front_csv(front)
    return json.dumps(front, indent=2) + "\n"


def _front_csv(front: dict[str, Any]) -> str:
    """One row per front trial (:func:`automtl.report.pareto.front_csv`, the service's CSV),
    the header also for an empty front."""
    from automtl.report.pareto import front_csv

    return front_csv(front)
