"""Trial rows of a job, written by the worker as each trial starts and finishes."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from automtl_storage.models import Trial, TrialState
from automtl_storage.types import parse_enum

if TYPE_CHECKING:
    from typing_extensions import Unpack


class TrialFields(TypedDict, total=False):
    """The columns a worker may set on a trial row; any subset may be given."""

    state: TrialState | str
    params: dict[str, Any]
    config: dict[str, Any] | None
    valid_metrics: dict[str, Any] | None
    test_metrics: dict[str, Any] | None
    objectives: dict[str, Any] | None
    num_params: int | None
    latency_ms: float | None
    train_seconds: float | None
    total_seconds: float | None
    artifact_path: str | None
    ray_node_id: str | None
    error: str | None
    on_front: bool
    gate_utilisation: dict[str, Any] | None
    pruned_epoch: int | None
    rung_values: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None


_TRIAL_FIELDS = tuple(TrialFields.__annotations__)


def parse_trial_state(value: TrialState | str) -> TrialState:
    """``value`` as a :class:`TrialState`; an unknown one raises an error listing the valid ones."""
    return parse_enum(TrialState, value, "state", "trial state")


class TrialRepository:
    """Trial rows.  Takes a session, never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, job_id: int, number: int, **fields: Unpack[TrialFields]) -> Trial:
        """Insert trial ``number`` of ``job_id`` or update the given fields of the existing row
        (fields not given keep their stored values), in one ``INSERT ... ON CONFLICT`` so
        callbacks from concurrent trials never race on the unique ``(job_id, number)``."""
        unknown = sorted(set(fields) - set(_TRIAL_FIELDS))
        if unknown:
            raise TypeError(f"unknown trial field(s) {unknown}; valid: {list(_TRIAL_FIELDS)}")
        values: dict[str, Any] = dict(fields)
        if "state" in values:
            values["state"] = parse_trial_state(values["state"])
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(Trial).values(job_id=job_id, number=number, **values)
        updates = {name: statement.excluded[name] for name in values}
        if updates:
            statement = statement.on_conflict_do_update(
                index_elements=[Trial.job_id, Trial.number], set_=updates
            )
        else:
            statement = statement.on_conflict_do_nothing(
                index_elements=[Trial.job_id, Trial.number]
            )
        self.session.execute(statement)
        trial = self.get(job_id, number, refresh=True)
        assert trial is not None
        return trial

    def get(self, job_id: int, number: int, *, refresh: bool = False) -> Trial | None:
        query = select(Trial).where(Trial.job_id == job_id, Trial.number == number)
        if refresh:
            query = query.execution_options(populate_existing=True)
        return self.session.scalar(query)

    def list_for_job(
        self,
        job_id: int,
        *,
        state: TrialState | str | None = None,
        on_front: bool | None = None,
    ) -> Sequence[Trial]:
        """Trials of a job by number, optionally filtered by state and front membership."""
        query = select(Trial).where(Trial.job_id == job_id)
        if state is not None:
            query = query.where(Trial.state == parse_trial_state(state))
        if on_front is not None:
            query = query.where(Trial.on_front.is_(on_front))
        return self.session.scalars(query.order_by(Trial.number)).all()

    def count_by_state(self, job_id: int) -> dict[TrialState, int]:
        """How many trials of the job are in each state (every state present, zeros included)."""
        query = (
            select(Trial.state, func.count())
            .where(Trial.job_id == job_id)
            .group_by(Trial.state)
        )
        counts = {state: 0 for state in TrialState}
        for state, count in self.session.execute(query):
            counts[state] = count
        return counts

    def count_in_state(self, job_ids: Collection[int],
                       state: TrialState | str) -> dict[int, int]:
        """How many trials of each of ``job_ids`` are in ``state``, in one grouped query (a job
        without such trials, or without trials, maps to 0)."""
        wanted = sorted(set(job_ids))
        counts = dict.fromkeys(wanted, 0)
        if not wanted:
            return counts
        query = (
            select(Trial.job_id, func.count())
            .where(Trial.job_id.in_(wanted), Trial.state == parse_trial_state(state))
            .group_by(Trial.job_id)
        )
        for job_id, count in self.session.execute(query):
            counts[job_id] = count
        return counts

    def mark_front(self, job_id: int, numbers: Collection[int]) -> int:
        """Make exactly the trials ``numbers`` of ``job_id`` the current front; returns how many
        of ``numbers`` exist (a number with no row is ignored by the database, so callers can
        check the count)."""
        wanted = sorted(set(numbers))
        self.session.execute(
            update(Trial)
            .where(Trial.job_id == job_id)
            .values(on_front=Trial.number.in_(wanted))
            .execution_options(synchronize_session="fetch")
        )
        found = self.session.scalar(
            select(func.count()).where(Trial.job_id == job_id, Trial.number.in_(wanted))
        )
        return int(found or 0)
