"""Training bundles exported from a job's trials."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from automtl_storage.models import Export


class ExportRepository:
    """Record and list exports.  Takes a session, never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, job_id: int, trial_id: int, location: str) -> Export:
        export = Export(job_id=job_id, trial_id=trial_id, location=location)
        self.session.add(export)
        self.session.flush()
        return export

    def get(self, export_id: int) -> Export | None:
        return self.session.get(Export, export_id)

    def list_for_job(self, job_id: int) -> Sequence[Export]:
        """Newest first."""
        query = (
            select(Export)
            .where(Export.job_id == job_id)
            .order_by(Export.created_at.desc(), Export.id.desc())
        )
        return self.session.scalars(query).all()
