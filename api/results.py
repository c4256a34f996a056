"""A job's results, read from its Optuna study: the front (JSON/CSV) and the report page.

The study is the durable record of a search, so the front served here is exactly
``study.best_trials``, also while the job runs; a queued job (no study yet) has an empty front.
"""

from __future__ import annotations

import logging
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
            "hypervolume": None, "trials": [], "n_trials": 0, "n_failed": 0,
            "n_interrupted": 0, "n_infeasible": 0, "n_dominated": 0, "warnings": [],
            "mtl_gain": None}


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


def warm_report_rendering() -> None:
    """Render the page of a job without trials once, for two and for three objectives (the
    two front plots), and discard it: the first page a process renders pays ~0.5 s of CPU
    once, for Plotly loading its schema of validators (a 0.4 s JSON parse) and importing the
    figure classes; paid on the first ``GET .../report`` under load (every reader of the job
    waiting for that one render), it made the slowest 1% of the reports (issue 20). Called
    by the app's start-up, before it accepts a request."""
    from automtl.report.html import build_report_html

    for names in (["y1", "y2"], ["y1", "y2", "y3"]):
        objectives = [{"name": n, "direction": "maximize", "metric": "auc"} for n in names]
        front = {"job_id": 0, "status": "queued", "study": None, "objectives": objectives,
                 "reference_point": {n: None for n in names},
                 "reference_rule": {n: "no trials yet" for n in names},
                 "hypervolume": None, "trials": [], "n_trials": 0, "n_failed": 0,
                 "n_infeasible": 0, "n_dominated": 0}
        build_report_html(front, [], tasks=[{"name": n, "metric": "auc",
                                             "direction": "maximize"} for n in names],
                          plotly_js="/warm-up")
    warm_importances()


def warm_importances() -> None:
    """Fit parameter importances once on a three-trial study in memory and discard them: the
    first fit in a process imports Optuna's fANOVA evaluator with scikit-learn, pandas and
    joblib (~1,300 modules, ~1.5 s of CPU with the import lock held), which a running job's
    first report with two complete trials paid under load while every other request waited
    (reads p99 2.6 s with the worker training, issue 20). Called by
    :func:`warm_report_rendering`."""
    from automtl.report.importances import param_importances

    optuna_logger = logging.getLogger("optuna")
    level = optuna_logger.level
    optuna_logger.setLevel(logging.WARNING)  # no "A new study created in memory" line
    try:
        study = optuna.create_study(directions=["maximize", "minimize"],
                                    storage=optuna.storages.InMemoryStorage())
    finally:
        optuna_logger.setLevel(level)
    distributions = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
                     "topology": optuna.distributions.CategoricalDistribution(["a", "b"])}
    for index, (lr, topology) in enumerate([(1e-3, "a"), (1e-2, "b"), (3e-2, "a")]):
        study.add_trial(optuna.trial.create_trial(
            params={"lr": lr, "topology": topology}, distributions=distributions,
            values=[0.5 + 0.1 * index, 1.0 - 0.2 * index]))
    importances = param_importances(study, [{"name": "y1", "metric": "auc"},
                                            {"name": "y2", "metric": "mse"}])
    if not isinstance(importances, dict):  # a sentence: the fit did not run, nothing warmed
        raise RuntimeError(f"the importance warm-up fitted nothing: {importances}")


def front_csv(front: dict[str, Any]) -> str:
    """One row per front trial: trial, topology, weighting, objectives, test metrics, costs
    (:func:`automtl.report.pareto.front_csv`: the header also for an empty front)."""
    from automtl.report.pareto import front_csv as csv_of_front

    return csv_of_front(front)


def gains_csv(front: dict[str, Any]) -> str:
    """The confirmed MTL-gain rows (:func:`automtl.report.pareto.gains_csv`: the header also
    before a confirmation)."""
    from automtl.report.pareto import gains_csv as csv_of_gains

    return csv_of_gains(front)


def job_report(job: Job, storage: Any, session: Any, *, plotly_js: str | None = None,
               roots: Iterable[str | Path] = ()) -> str:
    """The report page: the study's trials, with the gate utilisation the worker stored and
    the parameter importances; ``plotly_js`` is the URL of the shared Plotly script (``None``:
    embedded)."""
    from automtl.report.html import build_report_html, report_from_study

    roots = list(roots)  # read twice: the front's paths and the trials' errors
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
                             gate_utilisation=usage, front=front, plotly_js=plotly_js,
                             redact=lambda text: scrub_paths(text, roots))
