"""Registered workers and the Ray resources they advertise (table ``automtl_workers``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from automtl_storage.models import WorkerNode
from automtl_storage.types import utcnow


class WorkerRepository:
    """Register, refresh, list and remove workers.  Takes a session, never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def register(self, worker_id: str, hostname: str, nodes: Sequence[Mapping[str, float]], *,
                 ray_address: str | None = None, now: datetime | None = None) -> WorkerNode:
        """Insert or update the row of ``worker_id`` with its nodes' resources (fresh heartbeat).

        Raises ValueError when ``nodes`` is empty or holds a negative or non-numeric amount.
        """
        clean = [_clean_node(node, index) for index, node in enumerate(nodes)]
        if not clean:
            raise ValueError("nodes: a worker must advertise at least one Ray node")
        now = now or utcnow()
        row = self.session.get(WorkerNode, worker_id)
        if row is None:
            row = WorkerNode(id=worker_id, hostname=hostname, nodes=clean,
                             ray_address=ray_address, started_at=now, heartbeat_at=now)
            self.session.add(row)
        else:
            row.hostname, row.nodes, row.ray_address, row.heartbeat_at = (
                hostname, clean, ray_address, now)
        self.session.flush()
        return row

    def touch(self, worker_id: str, *, now: datetime | None = None) -> bool:
        """Refresh the heartbeat; False when the row is gone (e.g. removed as stale)."""
        row = self.session.get(WorkerNode, worker_id)
        if row is None:
            return False
        row.heartbeat_at = now or utcnow()
        self.session.flush()
        return True

    def live(self, stale_after: float, *, now: datetime | None = None) -> Sequence[WorkerNode]:
        """Workers whose heartbeat is newer than ``stale_after`` seconds, by id."""
        cutoff = (now or utcnow()) - timedelta(seconds=stale_after)
        query = (select(WorkerNode).where(WorkerNode.heartbeat_at >= cutoff)
                 .order_by(WorkerNode.id))
        return self.session.scalars(query).all()

    def remove(self, worker_id: str) -> None:
        """Forget a worker (it is shutting down)."""
        self.session.execute(delete(WorkerNode).where(WorkerNode.id == worker_id))


def _clean_node(node: Mapping[str, float], index: int) -> dict[str, float]:
    clean: dict[str, float] = {}
    for name, amount in node.items():
        try:
            value = float(amount)
        except (TypeError, ValueError):
            raise ValueError(f"nodes[{index}].{name}: not a number: {amount!r}") from None
        if value < 0:
            raise ValueError(f"nodes[{index}].{name}: must be >= 0, got {value:g}")
        clean[str(name)] = value
    return clean
