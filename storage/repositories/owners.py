"""Owners and their API tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from automtl_storage.models import ApiToken, Owner
from automtl_storage.tokens import generate_token, hash_token
from automtl_storage.types import utcnow


class OwnerRepository:
    """Create and look up owners.  Takes a session, never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, name: str) -> Owner:
        owner = Owner(name=name)
        self.session.add(owner)
        self.session.flush()
        return owner

    def get(self, owner_id: int) -> Owner | None:
        return self.session.get(Owner, owner_id)

    def get_by_name(self, name: str) -> Owner | None:
        return self.session.scalar(select(Owner).where(Owner.name == name))

    def get_or_create(self, name: str) -> Owner:
        return self.get_by_name(name) or self.create(name)

    def list(self) -> Sequence[Owner]:
        return self.session.scalars(select(Owner).order_by(Owner.id)).all()

    def set_limits(self, owner: Owner, limits: dict[str, Any] | None) -> Owner:
        """Replace ``owner``'s own limits (``None`` or ``{}``: the server's apply again).
        The caller validates the keys (``automtl_api.settings.check_owner_limits``)."""
        owner.limits = dict(limits) if limits else None
        self.session.flush()
        return owner


#: ``last_used_at`` is refreshed at most this often, so authenticating is usually a pure read
#: (on SQLite every write takes the database's single write lock)
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenRepository:
    """Issue, authenticate and revoke API tokens; only their hashes reach the database."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, owner_id: int, name: str,
               expires_at: datetime | None = None) -> tuple[ApiToken, str]:
        """A new token for ``owner_id`` (valid until ``expires_at``; ``None``: no expiry): the
        row and the plain token, shown to the user once."""
        plain = generate_token()
        token = ApiToken(owner_id=owner_id, name=name, token_hash=hash_token(plain),
                         expires_at=expires_at)
        self.session.add(token)
        self.session.flush()
        return token, plain

    def get(self, token_id: int) -> ApiToken | None:
        return self.session.get(ApiToken, token_id)

    def get_by_hash(self, token_hash: str) -> ApiToken | None:
        return self.session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))

    def authenticate(self, plain_token: str, *, now: datetime | None = None) -> ApiToken | None:
        """The live (not revoked, not expired) token matching ``plain_token``, with
        ``last_used_at`` updated (to within :data:`LAST_USED_RESOLUTION`); ``None`` for an
        unknown, empty, revoked or expired token."""
        if not plain_token:
            return None
        token = self.get_by_hash(hash_token(plain_token))
        if token is None or token.revoked:
            return None
        now = now or utcnow()
        if token.expires_at is not None and now >= token.expires_at:
            return None
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            token.last_used_at = now
            self.session.flush()
        return token

    def list_for_owner(self, owner_id: int) -> Sequence[ApiToken]:
        query = select(ApiToken).where(ApiToken.owner_id == owner_id).order_by(ApiToken.id)
        return self.session.scalars(query).all()

    def revoke(self, token_id: int) -> bool:
        """Revoke a token; ``False`` if there is no such token."""
        token = self.get(token_id)
        if token is None:
            return False
        token.revoked = True
        self.session.flush()
        return True
