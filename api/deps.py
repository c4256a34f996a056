"""``Annotated`` dependencies of the routes: settings, a database session, the current owner.

The session commits when the route returns, before the response is sent (``scope="function"``),
so a client that got 202 can read what it created; an error rolls it back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from automtl_api.errors import ApiError, not_found
from automtl_api.settings import Settings
from automtl_api.spec_limits import ID_MAX
from automtl_storage import Database, Job, JobRepository, Owner, TokenRepository
from automtl_storage.types import utcnow

if TYPE_CHECKING:
    from optuna.storages import RDBStorage


# The dependencies that only read ``app.state`` are ``async``: FastAPI runs a sync dependency
# in its thread pool, one hand-over to a thread and back per dependency and request (~0.3 ms
# of CPU each under load, and a wait for the GIL), where an async one runs inline.


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_database(request: Request) -> Database:
    return request.app.state.database


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.database.session() as session:
        yield session


_bearer = HTTPBearer(auto_error=False, description="a token from `automtl token create NAME`")


def _authenticate(session: Session, credentials: HTTPAuthorizationCredentials | None) -> Owner:
    """The owner of the bearer token, read in ``session``'s transaction; 401 when it is
    missing, unknown, expired or revoked. The token is looked up on every request (one
    indexed query), so a revocation or expiry takes effect at the next request, from any
    process. When the lookup wrote the token's ``last_used_at`` (at most once per
    :data:`~automtl_storage.repositories.owners.LAST_USED_RESOLUTION`) the transaction is
    committed at once, so that write does not hold SQLite's write lock while the route runs;
    otherwise the route goes on in the same transaction and connection (on PostgreSQL one
    checkout, ping, BEGIN and COMMIT per request instead of one per dependency)."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise ApiError.one(401, "Authorization", "missing bearer token: send "
                           "'Authorization: Bearer <token>' (automtl token create NAME)",
                           root="header", type_="unauthorized", headers=challenge)
    now = utcnow()
    token = TokenRepository(session).authenticate(credentials.credentials, now=now)
    if token is None:
        raise ApiError.one(401, "Authorization", "invalid, expired or revoked token",
                           root="header", type_="unauthorized", headers=challenge)
    owner = token.owner
    if token.last_used_at == now:  # written just now: end the write transaction
        session.commit()
    return owner


def current_owner(
    session: Annotated[Session, Depends(get_session, scope="function")],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Owner:
    """The owner of the bearer token; 401 when it is missing, unknown, expired or revoked."""
    return _authenticate(session, credentials)


class StudyStorage:
    """Optuna's RDB storage on the service database, opened once per app.

    It is opened when the app is created, not on a first request: opening creates Optuna's
    tables when they are missing, which on SQLite would wait for the write lock a request's
    own session holds."""

    def __init__(self, url: str, pool_size: int = 5, max_overflow: int = 10) -> None:
        from automtl_storage import optuna_storage

        self._storage: RDBStorage = optuna_storage(
            url, engine_kwargs={"pool_size": pool_size, "max_overflow": max_overflow})

    def get(self) -> RDBStorage:
        return self._storage


async def get_study_storage(request: Request) -> Any:
    return request.app.state.study_storage.get()


#: a path id: 1 .. the largest PostgreSQL ``integer`` (a larger one cannot exist: 422, not 500)
IdPath = Annotated[int, Path(ge=1, le=ID_MAX, description="an id")]
#: a page offset, in the range the database's OFFSET takes
Offset = Annotated[int, Query(ge=0, le=ID_MAX)]


def owned_job(
    job_id: IdPath,
    session: Annotated[Session, Depends(get_session, scope="function")],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Job:
    """The job ``job_id`` of the caller; 401 as :func:`current_owner`, 404 when the job does
    not exist or is someone else's. The token and the job are read in one dependency and one
    transaction, which the route goes on using."""
    owner = _authenticate(session, credentials)
    job = JobRepository(session).get_for_owner(job_id, owner.id)
    if job is None:
        raise not_found("job", job_id, "job_id")
    return job


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
OwnerDep = Annotated[Owner, Depends(current_owner)]
StudyStorageDep = Annotated[Any, Depends(get_study_storage)]
OwnedJobDep = Annotated[Job, Depends(owned_job)]
