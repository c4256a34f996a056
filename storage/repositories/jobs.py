"""Search jobs: submission, the worker queue (claim, heartbeat, takeover), cancel and finish.

Every state change a second worker could race on is one guarded ``UPDATE ... RETURNING``:
the ``WHERE`` clause re-checks the state the change depends on, so of two concurrent callers at
most one gets a row back.  On PostgreSQL the candidate row is picked with ``FOR UPDATE SKIP
LOCKED`` so concurrent claimers take different jobs instead of queueing on one row; SQLite
serialises writers (WAL + busy timeout) and ignores ``FOR UPDATE``, and the guard does the rest.

A worker that passes its Ray nodes' resources (``nodes``) claims only jobs whose per-trial
resources one of those nodes holds (:mod:`automtl_storage.resources`): the queue is read oldest
first, filtered in Python (the requirement lives in the JSON spec) and the first fitting job is
taken with the same guarded ``UPDATE``; a lost race moves on to the next fitting job.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.orm import Session, defer

from automtl_storage.models import Job, JobStatus, job_study_name
from automtl_storage.repositories.workers import WorkerRepository
from automtl_storage.resources import NodeResources, fits, job_requirement, unserved_reason
from automtl_storage.types import parse_enum, utcnow

if TYPE_CHECKING:
    from typing_extensions import Unpack

#: how many of the oldest candidate jobs a resource-aware claim looks at per call
CLAIM_SCAN_LIMIT = 200

class JobProgress(TypedDict, total=False):
    """Progress counters and the search's stage a worker reports; any subset may be given."""

    trials_finished: int
    trials_failed: int
    trials_running: int
    front_size: int
    hypervolume: float | None
    stage: str | None
    stage_detail: str | None


_PROGRESS_FIELDS = tuple(JobProgress.__annotations__)


def parse_job_status(value: JobStatus | str) -> JobStatus:
    """``value`` as a :class:`JobStatus`; an unknown one raises an error listing the valid ones."""
    return parse_enum(JobStatus, value, "status", "job status")


class JobRepository:
    """Jobs and the worker queue.  Takes a session, never commits: the caller's commit makes a
    claim, heartbeat or takeover visible (and on PostgreSQL releases the row lock)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- submission and reads -------------------------------------------------------------

    def create(
        self,
        owner_id: int,
        name: str,
        spec: dict[str, Any],
        *,
        dataset_id: int | None = None,
        study_name: str | None = None,
        warnings: Sequence[str] = (),
    ) -> Job:
        """A new ``queued`` job; the study name is generated unless given: ``automtl-job<id>-
        <name>-<8 hex>`` (:func:`~automtl_storage.models.job_study_name`), so optuna-dashboard
        says which job a study belongs to; ``warnings`` are the submit's data warnings."""
        job = Job(owner_id=owner_id, name=name, spec=spec, dataset_id=dataset_id,
                  warnings=list(warnings))
        if study_name is not None:
            job.study_name = study_name
        self.session.add(job)
        self.session.flush()
        if study_name is None:
            job.study_name = job_study_name(job.id, name)
            self.session.flush()
        return job

    def get(self, job_id: int) -> Job | None:
        return self.session.get(Job, job_id)

    def refresh(self, job_id: int) -> Job | None:
        """The job as the database has it now, overwriting any loaded copy."""
        return self.session.get(Job, job_id, populate_existing=True)

    def get_for_owner(self, job_id: int, owner_id: int) -> Job | None:
        """The job if it exists and belongs to ``owner_id`` (others' jobs are invisible)."""
        return self.session.scalar(select(Job).where(Job.id == job_id, Job.owner_id == owner_id))

    def list_for_owner(
        self,
        owner_id: int,
        *,
        status: JobStatus | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Job]:
        """Newest first, optionally only one status."""
        return self.session.scalars(_owner_page(owner_id, status, limit, offset)).all()

    def list_summaries_for_owner(
        self,
        owner_id: int,
        *,
        status: JobStatus | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[Job, Any]]:
        """:meth:`list_for_owner`'s jobs without their specs, each with its spec's
        ``budget.trials`` (``None`` when the spec has none) read by the database: a page of 50
        jobs decoded 50 specs (~1 KB of JSON each) for that one number, half the CPU of
        ``GET /jobs``. ``job.spec`` is loaded (one query per job) only when read."""
        budget = Job.spec[("budget", "trials")]
        query = _owner_page(owner_id, status, limit, offset).options(defer(Job.spec))
        return [(job, trials) for job, trials in self.session.execute(query.add_columns(budget))]

    def count_for_owner(self, owner_id: int, *, status: JobStatus | str | None = None) -> int:
        """How many jobs :meth:`list_for_owner` pages through."""
        query = select(func.count()).select_from(Job).where(Job.owner_id == owner_id)
        if status is not None:
            query = query.where(Job.status == parse_job_status(status))
        return int(self.session.scalar(query) or 0)

    def count_active_for_owner(self, owner_id: int) -> int:
        """``owner_id``'s queued plus running jobs (what ``max_active_jobs`` caps)."""
        query = select(func.count()).select_from(Job).where(
            Job.owner_id == owner_id, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
        return int(self.session.scalar(query) or 0)

    def list_by_status(self, status: JobStatus | str) -> Sequence[Job]:
        """Every job in ``status``, oldest first."""
        query = (
            select(Job)
            .where(Job.status == parse_job_status(status))
            .order_by(Job.created_at, Job.id)
        )
        return self.session.scalars(query).all()

    # -- the worker queue ----------------------------------------------------------------

    def _guarded_update(self, where: ColumnElement[bool], values: dict[str, Any]) -> Job | None:
        statement = (
            update(Job)
            .where(where)
            .values(**values)
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        )
        job_id = self.session.execute(statement).scalar_one_or_none()
        return None if job_id is None else self.refresh(job_id)

    def claim_next(self, worker_id: str, *, now: datetime | None = None,
                   nodes: Sequence[NodeResources] | None = None) -> Job | None:
        """Atomically take the oldest ``queued`` job for ``worker_id`` and mark it ``running``;
        ``None`` when the queue is empty or every queued job is being claimed by others.

        With ``nodes`` (the resources of each node of the worker's Ray cluster) only a job
        whose per-trial resources fit on one of them is taken; the others stay queued.
        """
        now = now or utcnow()
        values = {
            "status": JobStatus.RUNNING,
            "worker_id": worker_id,
            "started_at": now,
            "heartbeat_at": now,
            "attempts": Job.attempts + 1,
        }
        queued = Job.status == JobStatus.QUEUED
        if nodes is None:
            oldest_queued = (
                select(Job.id)
                .where(queued)
                .order_by(Job.created_at, Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            return self._guarded_update((Job.id == oldest_queued) & queued, values)
        order = (Job.created_at, Job.id)
        for job_id in self._fitting(queued, order, nodes):
            job = self._guarded_update((Job.id == job_id) & queued, values)
            if job is not None:
                return job
        return None

    def _fitting(self, where: ColumnElement[bool], order: tuple[Any, ...],
                 nodes: Sequence[NodeResources]) -> list[int]:
        """Ids of the first :data:`CLAIM_SCAN_LIMIT` jobs matching ``where`` whose per-trial
        requirement fits one of ``nodes``, in ``order``."""
        rows = self.session.execute(
            select(Job.id, Job.spec).where(where).order_by(*order).limit(CLAIM_SCAN_LIMIT))
        return [job_id for job_id, spec in rows if fits(job_requirement(spec), nodes)]

    def waiting_reason(self, job: Job, stale_after: float, *,
                       now: datetime | None = None) -> str | None:
        """Why a queued job is not running: no live worker, or none whose Ray nodes can hold
        one of its trials. None for a job that is not queued or that some live worker (heartbeat
        newer than ``stale_after`` seconds) can serve."""
        if job.status != JobStatus.QUEUED:
            return None
        workers = WorkerRepository(self.session).live(stale_after, now=now)
        return unserved_reason(job_requirement(job.spec),
                               [(worker.id, worker.nodes) for worker in workers])

    def heartbeat(self, job_id: int, worker_id: str, *, now: datetime | None = None) -> bool:
        """Record that ``worker_id`` is alive on ``job_id``.  ``False`` means the job is no longer
        this worker's (taken over, finished or cancelled): the worker should stop."""
        statement = (
            update(Job)
            .where(Job.id == job_id, Job.worker_id == worker_id,
                   Job.status == JobStatus.RUNNING)
            .values(heartbeat_at=now or utcnow())
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        )
        return self.session.execute(statement).scalar_one_or_none() is not None

    @staticmethod
    def _stale(stale_after: float, now: datetime) -> ColumnElement[bool]:
        if stale_after <= 0:
            raise ValueError(f"stale_after: must be > 0 seconds, got {stale_after}")
        cutoff = now - timedelta(seconds=stale_after)
        return (Job.status == JobStatus.RUNNING) & or_(
            Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff
        )

    def stale_jobs(self, stale_after: float, *, now: datetime | None = None) -> Sequence[Job]:
        """Running jobs whose heartbeat is older than ``stale_after`` seconds, stalest first."""
        query = (
            select(Job)
            .where(self._stale(stale_after, now or utcnow()))
            .order_by(Job.heartbeat_at, Job.id)
        )
        return self.session.scalars(query).all()

    def take_over(
        self,
        job_id: int,
        worker_id: str,
        stale_after: float,
        *,
        previous_worker_id: str | None = None,
        now: datetime | None = None,
    ) -> Job | None:
        """Reassign a stale running job to ``worker_id`` (fresh heartbeat).  Guarded on the job
        still being stale (and, if given, still held by ``previous_worker_id``), so of two
        concurrent takers exactly one gets the job and the other ``None``."""
        now = now or utcnow()
        where = (Job.id == job_id) & self._stale(stale_after, now)
        if previous_worker_id is not None:
            where = where & (Job.worker_id == previous_worker_id)
        return self._guarded_update(
            where, {"worker_id": worker_id, "heartbeat_at": now, "attempts": Job.attempts + 1}
        )

    def claim_stale(
        self, worker_id: str, stale_after: float, *, now: datetime | None = None,
        nodes: Sequence[NodeResources] | None = None,
    ) -> Job | None:
        """Take over the stalest running job whose heartbeat is older than ``stale_after``
        (with ``nodes``: the stalest one whose trials fit on one of them)."""
        now = now or utcnow()
        values = {"worker_id": worker_id, "heartbeat_at": now, "attempts": Job.attempts + 1}
        if nodes is None:
            stalest = (
                select(Job.id)
                .where(self._stale(stale_after, now))
                .order_by(Job.heartbeat_at, Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            return self._guarded_update((Job.id == stalest) & self._stale(stale_after, now),
                                        values)
        order = (Job.heartbeat_at, Job.id)
        for job_id in self._fitting(self._stale(stale_after, now), order, nodes):
            job = self._guarded_update((Job.id == job_id) & self._stale(stale_after, now),
                                       values)
            if job is not None:
                return job
        return None

    # -- progress, cancel, finish ---------------------------------------------------------

    def update_progress(self, job_id: int, **progress: Unpack[JobProgress]) -> None:
        """Set any of the progress counters (see :class:`JobProgress`)."""
        unknown = sorted(set(progress) - set(_PROGRESS_FIELDS))
        if unknown:
            raise TypeError(f"unknown progress field(s) {unknown}; valid: {list(_PROGRESS_FIELDS)}")
        if progress:
            statement = update(Job).where(Job.id == job_id).values(**progress)
            self.session.execute(statement.execution_options(synchronize_session=False))

    def cancel_requested(self, job_id: int) -> bool:
        """Whether ``job_id``'s cancel was asked (one primary-key read of one column: a worker
        polls it every ``cancel_poll_interval_s``). False for no such job."""
        return bool(self.session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))

    def request_cancel(self, job_id: int, *, now: datetime | None = None) -> Job | None:
        """Cancel a job: a queued one becomes ``cancelled`` at once; a running one gets
        ``cancel_requested`` for its worker to act on; a finished one is left as it is.
        ``None`` if there is no such job."""
        now = now or utcnow()
        self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
            .values(status=JobStatus.CANCELLED, cancel_requested=True, finished_at=now)
            .execution_options(synchronize_session=False)
        )
        self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.RUNNING)
            .values(cancel_requested=True)
            .execution_options(synchronize_session=False)
        )
        return self.refresh(job_id)

    def resume(self, job_id: int) -> Job | None:
        """Queue a ``cancelled`` or ``failed`` job again with the same study: the worker that
        claims it resumes the study (``run_search`` keeps the finished trials and retries the
        interrupted ones). Its cancel request, error and worker's report are cleared.
        ``None`` when the job is in another status (or there is no such job)."""
        where = (Job.id == job_id) & Job.status.in_([JobStatus.CANCELLED, JobStatus.FAILED])
        return self._guarded_update(where, {
            "status": JobStatus.QUEUED, "cancel_requested": False, "error": None,
            "finished_at": None, "worker_id": None, "heartbeat_at": None, "stage": None,
            "stage_detail": None, "trials_running": 0})

    def finish(
        self,
        job_id: int,
        status: JobStatus | str,
        error: str | None = None,
        *,
        worker_id: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Move a running job to a terminal status.  With ``worker_id``, only if that worker
        still holds the job.  ``False`` if nothing changed."""
        final = parse_job_status(status)
        if not final.is_terminal:
            raise ValueError(f"status: {final.value!r} is not a final status")
        where = (Job.id == job_id) & (Job.status == JobStatus.RUNNING)
        if worker_id is not None:
            where = where & (Job.worker_id == worker_id)
        values = {"status": final, "error": error, "finished_at": now or utcnow()}
        return self._guarded_update(where, values) is not None


def _owner_page(owner_id: int, status: JobStatus | str | None, limit: int,
                offset: int) -> Select[Job]:
    """``owner_id``'s jobs (only ``status``'s when given), newest first, one page."""
    query = select(Job).where(Job.owner_id == owner_id)
    if status is not None:
        query = query.where(Job.status == parse_job_status(status))
    return query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset)
