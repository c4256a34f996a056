"""Uploaded datasets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from automtl_storage.models import Dataset


class DatasetRepository:
    """Record and look up datasets.  Takes a session, never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(
        self,
        owner_id: int,
        name: str,
        storage_path: str,
        content_hash: str,
        detected_schema: dict[str, Any],
        size_bytes: int,
    ) -> Dataset:
        dataset = Dataset(
            owner_id=owner_id,
            name=name,
            storage_path=storage_path,
            content_hash=content_hash,
            detected_schema=detected_schema,
            size_bytes=size_bytes,
        )
        self.session.add(dataset)
        self.session.flush()
        return dataset

    def get(self, dataset_id: int) -> Dataset | None:
        return self.session.get(Dataset, dataset_id)

    def get_for_owner(self, dataset_id: int, owner_id: int) -> Dataset | None:
        """The dataset if it exists and belongs to ``owner_id``."""
        query = select(Dataset).where(Dataset.id == dataset_id, Dataset.owner_id == owner_id)
        return self.session.scalar(query)

    def list_for_owner(
        self, owner_id: int, *, limit: int = 100, offset: int = 0
    ) -> Sequence[Dataset]:
        """Newest first."""
        query = (
            select(Dataset)
            .where(Dataset.owner_id == owner_id)
            .order_by(Dataset.created_at.desc(), Dataset.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return self.session.scalars(query).all()

    def count_for_owner(self, owner_id: int) -> int:
        """How many datasets :meth:`list_for_owner` pages through."""
        query = select(func.count()).select_from(Dataset).where(Dataset.owner_id == owner_id)
        return int(self.session.scalar(query) or 0)

    def find_by_hash(self, owner_id: int, content_hash: str) -> Dataset | None:
        """An earlier upload of the same bytes by the same owner, if any."""
        query = (
            select(Dataset)
            .where(Dataset.owner_id == owner_id, Dataset.content_hash == content_hash)
            .order_by(Dataset.id)
            .limit(1)
        )
        return self.session.scalar(query)
