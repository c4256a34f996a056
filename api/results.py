"""A job's results, read from its Optuna study: the front (JSON/CSV) and the report page.

The study is the durable record of a search, so the front served here is exactly
``study.best_trials``, also while the job runs; a queued job (no study yet) has an empty front.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import optuna

from automtl.jobspec import JobSpec, load_job_spec
from automtl_api.redact import relative_path, scrub_paths
from automtl_storage import Job, TrialRepository


def load_study(job: Job, storage: Any) -> optuna.Study | None:
    """The job's study, or None before a worker has created it."""
    try:
        return optuna.load_study(study_name=job.study_name, storage=storage)
    except KeyError:
        return None


def empty_front(spec: JobSpec) -> dict[str, Any]:
    """The front of a job whose study does not exist yet."""
    objectives = spec.objective_list()
    return {"study": None,
            "objectives": [{"name": o.name, "direction": o.direction, "metric": o.metric}
                           for o in objectives],
            "reference_point": {o.name: None for o in objectives},
            "reference_rule": {o.name: "no trials yet" for o in objectives},
            "hypervolume": 0.0, "trials": [], "n_trials": 0, "n_failed": 0,
            "n_infeasible": 0, "n_dominated": 0, "warnings": []}


def job_front(job: Job, storage: Any, study: optuna.Study | None = None,
              roots: Iterable[str | Path] = ()) -> dict[str, Any]:
    """``pareto_front`` of the job's study (loaded unless given), with the job's id and
    status. The study keeps each trial's artifact folder and error as the worker saw them
    (absolute server paths): here they are shown as ``/trials`` shows them, relative to
    ``roots`` (the service's artifact and data directories), never absolute."""
    from automtl.report.pareto import pareto_front

    spec = load_job_spec(job.spec)
    study = study or load_study(job, storage)
    front = empty_front(spec) if study is None else pareto_front(study, spec)
    roots = tuple(roots)
    front["trials"] = [{**trial, "artifact": relative_path(trial.get("artifact"), roots),
                        "error": scrub_paths(trial.get("error"), roots)}
                       for trial in front["trials"]]
    return {"job_id": job.id, "status": job.status.value, **front}


def front_csv(front: dict[str, Any]) -> str:
    """One row per front trial: trial, topology, weighting, objectives, test metrics, costs."""
    from automtl.report.pareto import front_rows

    rows = front_rows(front)
    columns = ["trial", "topology", "weighting", *[o["name"] for o in front["objectives"]]]
    for row in rows:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def job_report(job: Job, storage: Any, session: Any, *, plotly_js: str | None = None,
               roots: Iterable[str | Path] = ()) -> str:
    """The report page: the study's trials, with the gate utilisation the worker stored and
    the parameter importances; ``plotly_js`` is the URL of the shared Plotly script (``None``:
    embedded)."""
    from automtl.report.html import build_report_html, report_from_study

    spec = load_job_spec(job.spec)
    study = load_study(job, storage)
    front = job_front(job, storage, study, roots)
    tasks = [{"name": t.name, "metric": str(t.metric), "direction": t.direction}
             for t in spec.tasks]
    progress = f"{front['n_trials']} of {spec.budget.trials} trials complete"
    subtitle = f"Job {job.id} ({job.status.value}), {progress}, study {job.study_name}"
    title = f"automtl report: {job.name}"
    if study is None:
        return build_report_html(front, [], tasks=tasks, title=title, subtitle=subtitle,
                                 plotly_js=plotly_js)
    usage = {t.number: t.gate_utilisation for t in TrialRepository(session).list_for_job(job.id)
             if t.gate_utilisation}
    session.commit()  # the page renders for ~0.5 s: with no database connection held
    return report_from_study(study, spec, title=title, subtitle=subtitle,
                             gate_utilisation=usage, front=front, plotly_js=plotly_js)
