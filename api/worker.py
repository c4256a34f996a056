"""The worker: claims queued jobs one at a time and runs each with ``run_search``.

A claim is one guarded ``UPDATE`` (:meth:`storage.JobRepository.claim_next`), so several workers
on one PostgreSQL never run the same job. While a job runs, a background thread heartbeats
every ``heartbeat_interval_s`` (independent of trial completion) and reads the job's cancel
request every ``cancel_poll_interval_s`` (0.5 s); :class:`JobCallbacks` stores each trial as it
starts and finishes and refreshes the job's progress. A cancelled search's running trials end at
their next batch (:mod:`automtl.search.stop_signal`), and the job is recorded ``cancelled`` as
soon as its trial rows agree with the study (:meth:`JobCallbacks.on_search_end`), before its
Ray shuts down; the worker claims no other job until that shutdown is over. A worker first
takes over running jobs whose heartbeat is older than
``stale_after_s`` (their worker died) and resumes their study: ``run_search`` marks the dead
run's trials failed and retries them, and the budget counts only finished trials.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import update

from automtl import artifact_store
from automtl.search.callbacks import Progress, SearchCallbacks, Stage
from automtl.trial_record import TrialOutcome, outcome_from_trial, row_columns
from automtl_api.redact import scrub_paths
from automtl_api.settings import Settings
from automtl_api.worker_resources import advertised_nodes
from automtl_storage import (
    Database,
    DatasetRepository,
    Job,
    JobRepository,
    JobStatus,
    TrialRepository,
    WorkerRepository,
    utcnow,
)
from automtl_storage.paths import relative_to_root, resolve_under

logger = logging.getLogger(__name__)

#: Optuna state name -> trial row state
def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Heartbeat:
    """A daemon thread that records the worker is alive on a job (every ``interval`` seconds)
    and reads its cancel request (every ``cancel_poll`` seconds; default and at most
    ``interval``).

    ``lost`` turns True when the job is no longer this worker's (taken over or ended);
    ``cancelled`` when its owner asked to cancel it.
    """

    def __init__(self, database: Database, job_id: int, worker_id: str, interval: float,
                 cancel_poll: float | None = None) -> None:
        self._database = database
        self._job_id = job_id
        self._worker_id = worker_id
        self._interval = interval
        self._cancel_poll = min(cancel_poll or interval, interval)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-job-{job_id}",
                                        daemon=True)
        self.lost = False
        self.cancelled = False

    def beat(self) -> None:
        with self._database.session() as session:
            WorkerRepository(session).touch(self._worker_id)
            jobs = JobRepository(session)
            alive = jobs.heartbeat(self._job_id, self._worker_id)
            job = jobs.refresh(self._job_id)
            cancel = bool(job is not None and job.cancel_requested)
        self.lost = self.lost or not alive
        self.cancelled = self.cancelled or cancel

    @property
    def worker_id(self) -> str:
        return self._worker_id

    def poll_cancel(self) -> None:
        """Read the job's cancel request alone (cheaper than :meth:`beat`)."""
        with self._database.session() as session:
            cancel = JobRepository(session).cancel_requested(self._job_id)
        self.cancelled = self.cancelled or cancel

    def _run(self) -> None:
        next_beat = time.monotonic() + self._interval
        while not self._done.wait(max(0.0, min(self._cancel_poll,
                                               next_beat - time.monotonic()))):
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self._interval
                    self.beat()
                elif not self.cancelled:
                    self.poll_cancel()
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the heartbeat
                logger.exception("heartbeat of job %d failed; retrying", self._job_id)

    def start(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=self._interval + 5)


def stored_artifact(path: str | None, artifact_root: str | Path | None) -> str | None:
    """The artifact folder as stored: relative to the artifact root (a directory or an
    fsspec URL) when it lies under it."""
    if path is None or artifact_root is None:
        return path
    if artifact_store.is_url(artifact_root):
        prefix = str(artifact_root).rstrip("/") + "/"
        return path[len(prefix):] if path.startswith(prefix) else path
    try:
        return relative_to_root(path, artifact_root)
    except ValueError:
        return path


def outcome_fields(outcome: TrialOutcome,
                   artifact_root: str | Path | None = None) -> dict[str, Any]:
    """A trial row's columns from a study trial's outcome (the record's columns, see
    :func:`automtl.trial_record.row_columns`; the artifact path relative to ``artifact_root``
    when given, paths scrubbed from the error) and when it finished."""
    finished = outcome.state != "RUNNING"
    columns = row_columns(outcome)
    columns.update(
        artifact_path=stored_artifact(outcome.artifact, artifact_root),
        # a PRUNED row refused at sampling (never trained) says why here; one MO-ASHA stopped
        # has a pruned_epoch instead
        error=scrub_paths(outcome.error) or outcome.infeasible,
        finished_at=utcnow() if finished else None)
    return columns


class JobCallbacks(SearchCallbacks):
    """Writes a running search to SQL: trial rows, front membership, job progress.

    Ray Tune pickles its callbacks into the experiment state; a copy made that way reconnects
    to the database by URL (as Optuna's RDBStorage does) but has no heartbeat to stop on.
    """

    def __init__(self, database: Database, job: Job, objective_names: list[str],
                 heartbeat: Heartbeat | None, stop: threading.Event,
                 artifact_root: str | Path | None = None) -> None:
        self._database = database
        self._artifact_root = artifact_root
        self._job_id = job.id
        self._study_name = job.study_name
        self._objectives = objective_names
        self._heartbeat = heartbeat
        self._stop = stop
        self._study: Any = None
        self._synced = False
        #: True once :meth:`on_search_end` recorded the job cancelled
        self.recorded_cancel = False

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self._database.url, "job_id": self._job_id,
                "study_name": self._study_name, "objectives": self._objectives,
                "artifact_root": self._artifact_root}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._database = Database(state["url"])
        self._job_id = state["job_id"]
        self._study_name = state["study_name"]
        self._objectives = state["objectives"]
        self._artifact_root = state.get("artifact_root")
        self._heartbeat = None
        self._stop = threading.Event()
        self._study = None
        self._synced = False
        self.recorded_cancel = False

    def study(self) -> Any:
        """The job's study (None until ``run_search`` has created it)."""
        if self._study is None:
            import optuna

            from automtl_storage import optuna_storage

            try:
                self._study = optuna.load_study(study_name=self._study_name,
                                                storage=optuna_storage(self._database.url))
            except KeyError:
                return None
        return self._study

    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        with self._database.session() as session:
            TrialRepository(session).upsert(self._job_id, number, state="running",
                                            params=dict(params), created_at=utcnow())

    def on_trial_complete(self, outcome: TrialOutcome) -> None:
        with self._database.session() as session:
            trials = TrialRepository(session)
            trials.upsert(self._job_id, outcome.number,
                          **outcome_fields(outcome, self._artifact_root))
            study = self.study()
            if study is not None:
                trials.mark_front(self._job_id, [t.number for t in study.best_trials])

    def on_progress(self, progress: Progress) -> None:
        if not self._synced:  # once per run: fix rows a dead worker left running
            self.sync()
        with self._database.session() as session:
            JobRepository(session).update_progress(
                self._job_id, trials_finished=progress.finished, trials_failed=progress.failed,
                trials_running=progress.running, front_size=progress.front_size,
                hypervolume=progress.hypervolume)

    def on_stage(self, stage: Stage) -> None:
        """Store the stage on the job row (``GET /jobs/{id}``'s ``stage`` and
        ``stage_detail``): one small update per stage and per confirmation run."""
        detail = None
        if stage.total is not None:
            detail = f"{stage.done}/{stage.total}" + (f": {stage.note}" if stage.note else "")
        elif stage.note:
            detail = stage.note
        with self._database.session() as session:
            JobRepository(session).update_progress(self._job_id, stage=stage.name,
                                                   stage_detail=detail and detail[:200])

    def should_stop(self) -> bool:
        beat = self._heartbeat
        return self._stop.is_set() or (beat is not None and (beat.cancelled or beat.lost))

    def on_search_end(self, stop_reason: str) -> None:
        """A search its owner cancelled is final: make the trial rows match the study, then
        record the job ``cancelled`` (only while this worker still holds it), before the
        search shuts its Ray down. Other endings are recorded by :meth:`Worker.run_job`."""
        beat = self._heartbeat
        if stop_reason != "cancelled" or beat is None or not beat.cancelled or beat.lost:
            return
        self.sync()
        with self._database.session() as session:
            self.recorded_cancel = JobRepository(session).finish(
                self._job_id, JobStatus.CANCELLED, None, worker_id=beat.worker_id)
        logger.info("job %d cancelled (its Ray shuts down next)", self._job_id)

    def sync(self) -> None:
        """Make every trial row match the study, and the front flags its best trials."""
        study = self.study()
        if study is None:
            return
        # a WAITING trial (enqueued: coverage, warm start, a retry) has not started: it is no
        # trial of the job yet, and a cancelled job's would otherwise stay "running" for good
        trials = [t for t in study.get_trials(deepcopy=False) if t.state.name != "WAITING"]
        with self._database.session() as session:
            rows = TrialRepository(session)
            for trial in trials:
                rows.upsert(self._job_id, trial.number,
                            **outcome_fields(outcome_from_trial(trial, self._objectives),
                                             self._artifact_root))
            rows.mark_front(self._job_id, [t.number for t in study.best_trials])
            JobRepository(session).update_progress(
                self._job_id,
                trials_running=sum(t.state.name == "RUNNING" for t in trials),
                front_size=len(study.best_trials))
        self._synced = True


class Worker:
    """Runs queued jobs one at a time; see the module docstring."""

    def __init__(self, settings: Settings, worker_id: str | None = None) -> None:
        self.settings = settings
        self.worker_id = worker_id or default_worker_id()
        self.database = Database(settings.resolved_database_url)
        self.stop = threading.Event()
        #: the resources of each node of this worker's Ray cluster, as last advertised
        self.nodes: list[dict[str, float]] | None = None

    def close(self) -> None:
        """Unregister (jobs stop being matched against this worker) and close the database."""
        try:
            with self.database.session() as session:
                WorkerRepository(session).remove(self.worker_id)
        except Exception:  # noqa: BLE001 - the row then just goes stale
            logger.warning("worker %s: could not unregister", self.worker_id, exc_info=True)
        self.database.dispose()

    def register(self) -> list[dict[str, float]]:
        """Advertise (or refresh) this worker and its Ray nodes' resources in the workers
        table; the nodes are what :meth:`claim` matches jobs against."""
        self.nodes = advertised_nodes(self.settings.ray_address, self.settings.ray_num_cpus)
        with self.database.session() as session:
            WorkerRepository(session).register(self.worker_id, socket.gethostname(), self.nodes,
                                               ray_address=self.settings.ray_address)
        return self.nodes

    # -- the queue ---------------------------------------------------------------------------

    def claim(self) -> int | None:
        """Take over the stalest abandoned job, else claim the oldest queued one; either only
        if one of this worker's Ray nodes can hold a trial of it (jobs that do not fit stay
        queued for a worker that can serve them)."""
        nodes = self.register()
        with self.database.session() as session:
            jobs = JobRepository(session)
            job = jobs.claim_stale(self.worker_id, self.settings.stale_after_s, nodes=nodes) \
                or jobs.claim_next(self.worker_id, nodes=nodes)
            if job is None:
                return None
            logger.info("worker %s: %s job %d (attempt %d)", self.worker_id,
                        "took over" if job.attempts > 1 else "claimed", job.id, job.attempts)
            return job.id

    def run_once(self) -> int | None:
        """Claim and run one job; its id, or None when there was nothing to do."""
        job_id = self.claim()
        if job_id is not None:
            self.run_job(job_id)
        return job_id

    def run_forever(self, max_jobs: int | None = None) -> int:
        """Run jobs until :attr:`stop` is set (or ``max_jobs`` ran); how many ran."""
        done = 0
        while not self.stop.is_set() and (max_jobs is None or done < max_jobs):
            try:
                job_id = self.run_once()
            except Exception:  # noqa: BLE001 - e.g. the database is briefly unreachable
                logger.exception("worker %s: claiming or running a job failed; retrying",
                                 self.worker_id)
                job_id = None
            if job_id is None:
                self.stop.wait(self.settings.poll_interval_s)
            else:
                done += 1
        return done

    # -- one job -----------------------------------------------------------------------------

    def run_job(self, job_id: int) -> None:
        """Run a job this worker holds and record how it ended."""
        from automtl.jobspec import load_job_spec
        from automtl.search import run_search

        with self.database.session() as session:
            job = JobRepository(session).get(job_id)
            assert job is not None
        heartbeat = Heartbeat(self.database, job_id, self.worker_id,
                              self.settings.heartbeat_interval_s,
                              self.settings.cancel_poll_interval_s).start()
        callbacks: JobCallbacks | None = None
        status, error = JobStatus.FAILED, None
        sigterm = signal.getsignal(signal.SIGTERM)
        try:
            spec = load_job_spec(job.spec)
            callbacks = JobCallbacks(self.database, job, list(spec.objectives), heartbeat,
                                     self.stop, self.settings.artifact_location)
            result = run_search(
                spec, callbacks, storage_url=self.database.url, study_name=job.study_name,
                artifact_dir=self.settings.resolved_artifact_dir,
                artifact_url=self.settings.artifact_url,
                ray_address=self.settings.ray_address, num_cpus=self.settings.ray_num_cpus,
                dataset_resolver=self.resolve_dataset,
                warm_start_resolver=functools.partial(self.resolve_warm_start,
                                                      owner_id=job.owner_id))
            status, error = _final_status(result.stop_reason, result.failed, heartbeat)
            if error is not None and result.constraints:
                error = f"{error}; {result.constraints}"
        except (KeyboardInterrupt, SystemExit):
            self._release(job_id)
            raise
        except Exception as exc:  # noqa: BLE001 - the job fails with the error, the worker lives
            logger.exception("job %d failed", job_id)
            error = scrub_paths(f"{type(exc).__name__}: {exc}", self.settings.path_roots)
        finally:
            heartbeat.stop()
            _restore_sigterm(sigterm)
        if callbacks is not None and not callbacks.recorded_cancel:
            try:
                callbacks.sync()
            except Exception:  # noqa: BLE001 - e.g. the study was never created
                logger.warning("job %d: could not sync trial rows with the study", job_id,
                               exc_info=True)
        if callbacks is not None and callbacks.recorded_cancel:
            pass  # recorded by on_search_end, before Ray's shutdown
        elif heartbeat.lost:
            logger.warning("job %d is no longer held by %s; leaving it", job_id, self.worker_id)
        elif self.stop.is_set() and not heartbeat.cancelled and status != JobStatus.SUCCEEDED:
            self._release(job_id)
        else:
            with self.database.session() as session:
                JobRepository(session).finish(job_id, status, error, worker_id=self.worker_id)
            logger.info("job %d %s", job_id, status.value)

    def resolve_warm_start(self, warm: Any, *, owner_id: int) -> tuple[str, str]:
        """The study of the job a spec's ``warm_start.job`` names (the same owner's only);
        a local ``directory`` is refused: the service reads no worker-local folders."""
        if warm.job is None:
            raise ValueError("warm_start.directory: the service warm-starts from a job id "
                             "(warm_start.job), not a folder")
        with self.database.session() as session:
            source = JobRepository(session).get(int(warm.job))
            if source is None or source.owner_id != owner_id:
                raise ValueError(f"warm_start.job: no job {warm.job} of this owner")
            return self.database.url, source.study_name

    def resolve_dataset(self, dataset_id: str) -> Path:
        """The file of an uploaded dataset (its path is stored relative to the data root)."""
        with self.database.session() as session:
            dataset = DatasetRepository(session).get(int(dataset_id))
            if dataset is None:
                raise FileNotFoundError(f"dataset {dataset_id} no longer exists")
            return resolve_under(dataset.storage_path, self.settings.data_dir.resolve())

    def _release(self, job_id: int) -> None:
        """Give a job back (worker shutting down): a cleared heartbeat is stale at once, so the
        next worker takes it over and resumes its study."""
        with self.database.session() as session:
            session.execute(update(Job).where(
                Job.id == job_id, Job.worker_id == self.worker_id,
                Job.status == JobStatus.RUNNING).values(heartbeat_at=None))
        logger.info("job %d released by %s", job_id, self.worker_id)


def _restore_sigterm(handler: Any) -> None:
    """Install the worker's SIGTERM handler again after a job. Ray's core worker resets SIGTERM
    to the default action at the C level when it shuts down (Python's ``signal`` does not see
    it), so without this a worker that ran a job dies on SIGTERM without stopping cleanly."""
    if callable(handler) and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def _final_status(stop_reason: str, failed: int,
                  heartbeat: Heartbeat) -> tuple[JobStatus, str | None]:
    if stop_reason == "cancelled" and heartbeat.cancelled:
        return JobStatus.CANCELLED, None
    if stop_reason == "max_failures":
        return JobStatus.FAILED, (f"stopped after {failed} failed trials "
                                  "(budget.max_failures); see the trials' errors")
    if stop_reason == "infeasible":
        return JobStatus.FAILED, ("every recent candidate violates a constraint known before "
                                  "training (none was trained)")
    if stop_reason in ("budget", "time_limit"):
        return JobStatus.SUCCEEDED, None
    if stop_reason == "incomplete":
        return JobStatus.FAILED, ("the search ended before its trial budget without a time "
                                  "limit: Ray Tune stopped placing trials (does a node of the "
                                  "worker's Ray cluster have the resources per trial?)")
    return JobStatus.FAILED, f"the search stopped ({stop_reason})"
