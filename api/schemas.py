"""API schemas (what the REST API reads and writes), kept apart from the ORM models."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field

from automtl.trial_record import TRIAL_FIELDS, empty_front_text
from automtl_api.redact import relative_path, scrub_paths
from automtl_storage import Dataset, Job, JobStatus, Trial, utcnow


class ErrorItem(BaseModel):
    loc: list[str | int]
    path: str
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every 4xx answer: one item per problem, with the path of the field at fault."""

    detail: list[ErrorItem]


def json_error(description: str) -> dict[str, Any]:
    """An OpenAPI response entry whose body is an :class:`ErrorResponse` in JSON, also on a
    route whose success is not JSON (the report's HTML)."""
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}


#: what every POST with a body may also answer
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "the body cannot be parsed"},
    413: {"model": ErrorResponse, "description": "the body is over the server's limit "
                                                 "(AUTOMTL_MAX_SPEC_BYTES, "
                                                 "AUTOMTL_MAX_UPLOAD_BYTES)"},
}


# ------------------------------------------------------------------------------ jobs


class JobProgress(BaseModel):
    """Where a job stands: study-wide trial counts (earlier runs of a resumed job included)."""

    finished: int = Field(description="every trial that ended: complete, pruned (stopped "
                                      "early by MO-ASHA), failed, interrupted and infeasible "
                                      "(refused at sampling); the budget counts complete + "
                                      "pruned (GET /jobs/{id}/trials?state=... gives each "
                                      "kind)")
    failed: int = Field(description="trials that failed (an error); not those a cancel, the "
                                    "wall-time budget or a worker shutting down stopped "
                                    "(interrupted)")
    interrupted: int = Field(0, description="trials in state interrupted, counted from the "
                                            "job's trial rows (GET /jobs/{id}/trials?state="
                                            "interrupted): stopped before they finished by a "
                                            "cancel, the wall-time budget or a worker shutting "
                                            "down")
    pruned: int = Field(description="trials in state pruned, counted from the job's trial "
                                    "rows (the total of GET /jobs/{id}/trials?state=pruned): "
                                    "stopped early by MO-ASHA (with pruned_epoch) or refused "
                                    "at sampling as infeasible (without)")
    running: int
    budget: int | None = Field(description="trials to finish")
    elapsed_s: float | None = Field(description="since a worker first started it")
    front_size: int
    hypervolume: float | None = Field(description="of the front (see GET /jobs/{id}/pareto); "
                                                  "null while the front is empty (queued, "
                                                  "or no trial finished yet)")


#: a running search's stages, in order (``automtl.search.callbacks.STAGES``)
JobStage = Literal["preparing", "searching", "confirming", "reporting"]
JOB_STAGES = get_args(JobStage)

#: what became of a job's cancel request (see :func:`cancel_outcome`)
CancelOutcome = Literal["pending", "applied", "too_late"]


def cancel_outcome(status: JobStatus, cancel_requested: bool) -> CancelOutcome | None:
    """``None`` without a cancel request; ``"applied"`` when the job ended cancelled;
    ``"too_late"`` when it ended otherwise (its last trials finished, or it failed, before the
    worker read the request at its next heartbeat: the job keeps that status, as every trial of
    its budget ran and none was refused); ``"pending"`` while it is queued or running."""
    if not cancel_requested:
        return None
    if status == JobStatus.CANCELLED:
        return "applied"
    if status.is_terminal:
        return "too_late"
    return "pending"


class JobRead(BaseModel):
    id: int
    name: str
    status: str
    dataset_id: int | None
    study_name: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested: bool
    cancel_outcome: CancelOutcome | None = Field(
        None, description="what became of a cancel request (null: none was made): pending "
                          "(running; its worker reads it within "
                          "AUTOMTL_CANCEL_POLL_INTERVAL_S, then stops the running trials at "
                          "their next batch), "
                          "applied (status cancelled), too_late (the job ended, succeeded or "
                          "failed, before its worker acted: every trial of the budget ran, "
                          "nothing was refused, and its results stand)")
    stage: JobStage | None = Field(
        None, description="a running job's stage: preparing (loading the data, opening the "
                          "study), searching (the trials), confirming (re-training the front "
                          "with confirm.seeds seeds, one run at a time; see stage_detail), "
                          "reporting (the front, the parameter importances); null while "
                          "queued, before the worker reported one, and once the job ended")
    stage_detail: str | None = Field(
        None, description="within the stage, e.g. while confirming '4/15: trial 12 (mmoe, "
                          "front) seed 2/3' (4 of 15 runs done, this one training)")
    error: str | None
    attempts: int = Field(description="times a worker claimed or took over the job")
    progress: JobProgress

    @classmethod
    def of(cls, job: Job, pruned: int, *, interrupted: int = 0) -> JobRead:
        """The answer for ``job``, with ``pruned`` and ``interrupted`` trials (see
        :meth:`automtl_storage.TrialRepository.count_in_state`)."""
        budget = (job.spec.get("budget") or {}).get("trials")  # stored specs are normalised
        return cls.of_summary(job, pruned, budget, interrupted=interrupted)

    @classmethod
    def of_summary(cls, job: Job, pruned: int, budget: int | None, *,
                   interrupted: int = 0) -> JobRead:
        """:meth:`of` with the spec's ``budget.trials`` given (``job.spec`` is not read; see
        :meth:`automtl_storage.JobRepository.list_summaries_for_owner`)."""
        end = job.finished_at or utcnow()
        elapsed = (end - job.started_at).total_seconds() if job.started_at else None
        # the worker's last report holds only while it runs the job (a requeued or finished
        # job keeps the columns, never shown)
        running = job.status == JobStatus.RUNNING
        stage = cast("JobStage", job.stage) if running and job.stage in JOB_STAGES else None
        return cls(
            id=job.id, name=job.name, status=job.status.value, dataset_id=job.dataset_id,
            study_name=job.study_name, created_at=job.created_at, started_at=job.started_at,
            finished_at=job.finished_at, cancel_requested=job.cancel_requested,
            cancel_outcome=cancel_outcome(job.status, job.cancel_requested),
            stage=stage, stage_detail=job.stage_detail if stage is not None else None,
            error=scrub_paths(job.error),
            attempts=job.attempts,
            # finished includes the pruned, failed and interrupted trials: never below them
            # (the worker's count lags the rows, and a requeued job's is from its last run)
            progress=JobProgress(finished=max(job.trials_finished,
                                              pruned + job.trials_failed + interrupted),
                                 failed=job.trials_failed,
                                 pruned=pruned, interrupted=interrupted,
                                 running=job.trials_running, budget=budget,
                                 elapsed_s=elapsed,
                                 front_size=job.front_size,
                                 # no front yet (queued, or no trial finished): no volume, not 0
                                 hypervolume=job.hypervolume if job.front_size else None))


class JobSubmitted(JobRead):
    """``POST /jobs``'s answer: the queued job and what makes its results doubtful."""

    warnings: list[str] = Field(default_factory=list, description=(
        "what the submit's data checks found doubtful without refusing the job: a binary task "
        "with fewer than 20 of one class in the valid or test split (its AUC there is too "
        "noisy to rank or compare trials), inferred feature columns holding only 0/1 like "
        "another label (possible leakage); GET /jobs/{id}, the front and the report say it "
        "too"))


class JobDetail(JobRead):
    spec: dict[str, Any] = Field(description="the validated job spec as stored")
    waiting_reason: str | None = Field(
        None, description="why a queued job is not running: no live worker, or none whose Ray "
                          "nodes can hold one of its trials (null when some worker can)")
    warnings: list[str] = Field(default_factory=list, description=(
        "the warnings POST /jobs answered (its data checks), kept with the job: empty for a "
        "job submitted before they were stored; first, for a succeeded job whose front is "
        "empty (no trial trained to its last epoch), that it left nothing to export"))

    @classmethod
    def of(cls, job: Job, pruned: int, waiting_reason: str | None = None, *,
           interrupted: int = 0) -> JobDetail:
        spec = dict(job.spec)
        dataset = spec.get("dataset")
        if isinstance(dataset, dict) and "path" in dataset:  # the census builtin's server dir
            spec["dataset"] = {**dataset, "path": "(AUTOMTL_CENSUS_DIR)"}
        if isinstance(dataset, dict) and isinstance(dataset.get("id"), str) and \
                dataset["id"].isdigit():
            # an upload's id is stored as the runner's text key; answered as the number POST
            # /datasets gave (and dataset_id holds), whether it was sent as 3 or "3"
            spec["dataset"] = {**spec["dataset"], "id": int(dataset["id"])}
        warnings = list(job.warnings or [])
        if job.status == JobStatus.SUCCEEDED and not job.front_size:
            # it ran to its end, yet left nothing: not a plain success
            warnings.insert(0, empty_front_text(pruned, job.trials_failed))
        return cls(**JobRead.of(job, pruned, interrupted=interrupted).model_dump(), spec=spec,
                   waiting_reason=waiting_reason, warnings=warnings)


class JobPage(BaseModel):
    items: list[JobRead]
    limit: int
    offset: int
    has_more: bool
    total: int = Field(description="how many items match, over all pages")


class TrialRead(BaseModel):
    """One trial as the worker stored it. Its fields carry the trial record's names
    (:data:`automtl.trial_record.TRIAL_FIELDS`), the same as a trial of ``/pareto``:
    ``candidate``, ``values``, ``valid``, ``test``, ``train_time_s``, ``trial_time_s``,
    ``artifact``, ``rungs``. The older names of the same values (``config``, ``objectives``,
    ``valid_metrics``, ``test_metrics``, ``train_seconds``, ``total_seconds``,
    ``artifact_path``, ``rung_values``) are still sent, as deprecated aliases."""

    model_config = ConfigDict(from_attributes=True)

    number: int
    state: str
    params: dict[str, Any]
    candidate: dict[str, Any] | None = Field(None, description="the candidate: architecture, "
                                                              "weighting, train")
    values: dict[str, Any] | None = Field(None, description="objective -> validation value "
                                                            "(complete trials)")
    valid: dict[str, Any] | None = Field(None, description="task -> metric -> value, "
                                                           "validation split")
    test: dict[str, Any] | None = Field(None, description="task -> metric -> value, test split")
    num_params: int | None
    latency_ms: float | None
    train_time_s: float | None = Field(None, description="seconds in the training loop")
    trial_time_s: float | None = Field(None, description="seconds of the whole trial")
    artifact: str | None = Field(None, description="the trial's artifact folder, relative to "
                                                   "the service's artifact directory")
    ray_node_id: str | None = Field(None, description="the Ray node the trial ran on")
    error: str | None = Field(description="why a failed trial failed, or why a pruned trial "
                                           "without pruned_epoch was refused at sampling "
                                           "(a static constraint such as params_max)")
    on_front: bool
    gate_utilisation: dict[str, Any] | None
    pruned_epoch: int | None = Field(None, description="epoch at which MO-ASHA stopped a "
                                                       "pruned trial")
    rungs: dict[str, Any] | None = Field(
        None, description="MO-ASHA rung epoch -> objective values at that rung")
    created_at: datetime
    finished_at: datetime | None
    # deprecated aliases: the names /trials used before it took the record's names
    config: dict[str, Any] | None = Field(None, deprecated=True,
                                          description="deprecated: the same as candidate")
    objectives: dict[str, Any] | None = Field(None, deprecated=True,
                                              description="deprecated: the same as values")
    valid_metrics: dict[str, Any] | None = Field(None, deprecated=True,
                                                 description="deprecated: the same as valid")
    test_metrics: dict[str, Any] | None = Field(None, deprecated=True,
                                                description="deprecated: the same as test")
    train_seconds: float | None = Field(None, deprecated=True,
                                        description="deprecated: the same as train_time_s")
    total_seconds: float | None = Field(None, deprecated=True,
                                        description="deprecated: the same as trial_time_s")
    artifact_path: str | None = Field(None, deprecated=True,
                                      description="deprecated: the same as artifact")
    rung_values: dict[str, Any] | None = Field(None, deprecated=True,
                                               description="deprecated: the same as rungs")

    @classmethod
    def of(cls, trial: Trial, roots: Iterable[str | Path] = ()) -> TrialRead:
        """The row as clients see it: paths relative to ``roots`` (the artifact and data
        directories), never absolute; each value under its record name and its deprecated
        alias (the row's column)."""
        roots = tuple(roots)
        data: dict[str, Any] = {name: getattr(trial, name) for name in TRIAL_ALIASES.values()}
        data.update((name, getattr(trial, name)) for name in cls.model_fields
                    if name not in data and name not in TRIAL_ALIASES)
        data["state"] = trial.state.value
        data["artifact_path"] = relative_path(trial.artifact_path, roots)
        data["error"] = scrub_paths(trial.error, roots)
        data.update((record, data[column]) for record, column in TRIAL_ALIASES.items())
        return cls(**data)


#: a trial field's record name (``/pareto``'s) -> its deprecated alias in ``/trials`` (the
#: service row's column)
TRIAL_ALIASES: dict[str, str] = {
    f.name: f.column for f in TRIAL_FIELDS if f.column is not None and f.column != f.name}


class TrialPage(BaseModel):
    items: list[TrialRead]
    limit: int
    offset: int
    has_more: bool
    total: int = Field(description="how many items match, over all pages")


class FrontTrial(BaseModel):
    """One trial of the front: the trial's record, every field of
    ``automtl.trial_record.TRIAL_FIELDS`` under its name (``num_params`` the parameter count,
    ``params`` the sampled parameters, ``latency_ms``, ``on_front``, ...); the main ones are
    declared here."""

    model_config = ConfigDict(extra="allow")

    number: int
    candidate: dict[str, Any] | None
    values: dict[str, float] = Field(description="objective -> validation value")
    valid: dict[str, Any] = Field(default_factory=dict)
    test: dict[str, Any] = Field(default_factory=dict, description="task -> test metrics")


class MtlGainRow(BaseModel):
    """One front point's confirmed gain on one task (the fields of
    ``automtl.report.pareto.GAIN_FIELDS``, as in the CLI's gains.csv and front.json)."""

    trial: int
    topology: str | None
    task: str
    metric: str
    gain: float = Field(description="mean over seeds of the paired difference to the "
                                    "single-task model on the test split (positive = better)")
    ci_low: float | None
    ci_high: float | None
    p_value: float | None = Field(description="paired t-test")
    within_noise: bool | None = Field(description="the interval contains 0")
    baseline_std: float | None = Field(description="the single-task model's seed-to-seed "
                                                   "standard deviation (seed noise)")
    seeds: int
    verdict: str = Field(description="within noise, better than single-task, worse than "
                                     "single-task or no interval")


class MtlGain(BaseModel):
    """The multi-seed confirmation's MTL gain of each front point over single-task."""

    seeds: int | None
    split: str
    confidence: float | None = Field(description="the interval's level, e.g. 0.95")
    baseline_trial: int | None
    baseline_missing: str | None = Field(None, description="why there is no single-task "
                                                           "baseline (then no gains)")
    gains: list[MtlGainRow]


class ParetoFront(BaseModel):
    """The job's Pareto front, read from its Optuna study (also while the job runs)."""

    model_config = ConfigDict(extra="allow")

    job_id: int
    status: str
    objectives: list[dict[str, str | None]]
    reference_point: dict[str, float | None]
    hypervolume: float | None = Field(description="the volume the front dominates up to the "
                                                  "reference point; null while the front is "
                                                  "empty (as the job's progress.hypervolume)")
    trials: list[FrontTrial]
    n_trials: int
    n_dominated: int
    warnings: list[str] = Field(default_factory=list, description=(
        "what makes the front doubtful without failing the job: a binary task with fewer "
        "than 20 of one class in the valid or test split (its AUC is too noisy to rank "
        "trials by); also answered by POST /jobs"))
    domains: list[dict[str, str]] | None = Field(
        None, description="multi-domain job: the per-domain tasks (name, task, domain, metric, "
                          "direction) whose metrics each trial's valid/test hold")
    mtl_gain: MtlGain | None = Field(
        None, description="the confirmed MTL gain table (spec confirm.seeds > 0), null until "
                          "the confirmation is stored; as CSV with ?format=csv&table=gains")


# ------------------------------------------------------------------------------ datasets


class ColumnInfo(BaseModel):
    name: str
    dtype: str
    kind: Literal["numeric", "categorical"] | None = Field(
        description="how the column is used as a feature when features are inferred")
    reason: str | None = Field(None, description="why it gets that kind (e.g. 'integer codes: "
                                                 "12 distinct values in 5000 rows')")
    numeric: bool | None = Field(None, description="numeric dtype: usable as a regression label")
    distinct: int | None = Field(None, description="distinct present values")
    missing: int
    binary: bool | None = Field(None, description="numeric/bool with only 0/1 values: usable "
                                                  "as a binary label")


class DatasetRead(BaseModel):
    id: int
    name: str
    format: str
    size_bytes: int
    content_hash: str
    rows: int
    columns: list[ColumnInfo]
    created_at: datetime

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetRead:
        schema = dataset.detected_schema
        return cls(id=dataset.id, name=dataset.name, format=schema.get("format", "csv"),
                   size_bytes=dataset.size_bytes, content_hash=dataset.content_hash,
                   rows=schema["rows"], columns=schema["columns"],
                   created_at=dataset.created_at)


class DatasetPage(BaseModel):
    items: list[DatasetRead]
    limit: int
    offset: int
    has_more: bool
    total: int = Field(description="how many items match, over all pages")


# ------------------------------------------------------------------------------ search spaces


class PresetRead(BaseModel):
    name: str
    description: str | None
    topologies: list[str]
    weightings: list[str]
    document: dict[str, Any]


class SpaceValidation(BaseModel):
    """``POST /search-spaces/validate``: the space is valid on its own; ``warnings`` says what a
    job using it still needs."""

    valid: bool
    topologies: list[str]
    weightings: list[str]
    summary: dict[str, Any]
    needs_job_fields: dict[str, list[str]] = Field(
        default_factory=dict,
        description="topology -> the optional job-spec fields it needs (aitm: sequence, star: "
                    "domains); a preset leaves such a topology out of a job without the field")
    warnings: list[str] = Field(
        default_factory=list,
        description="what would refuse a job using this space although the space itself is "
                    "valid: a document naming a topology that needs a job field (a job "
                    "without the field is refused with 422 at that topology's path)")


class Limits(BaseModel):
    """``GET /limits``: the caps on your submissions and where each comes from."""

    limits: dict[str, int | float] = Field(
        description="max_trials, max_epochs, max_concurrency, max_time_limit_s (seconds), "
                    "max_synthetic_rows, max_active_jobs (counts are integers; seconds too "
                    "when whole: 86400, not 86400.0)")
    source: dict[str, Literal["owner", "server"]] = Field(
        description="owner: set for you by the administrator; server: AUTOMTL_MAX_*")
    active_jobs: int = Field(description="your queued plus running jobs now")


class Health(BaseModel):
    status: str
    database: str
