"""``/limits``: the caps that apply to the caller's submissions (theirs or the server's)."""

from __future__ import annotations

from fastapi import APIRouter

from automtl_api.deps import OwnerDep, SessionDep, SettingsDep
from automtl_api.schemas import ErrorResponse, Limits
from automtl_api.settings import OWNER_LIMITS
from automtl_storage import JobRepository

router = APIRouter(prefix="/limits", tags=["jobs"], responses={401: {"model": ErrorResponse}})


@router.get("", response_model=Limits, summary="Your limits and active jobs")
def my_limits(owner: OwnerDep, session: SessionDep, settings: SettingsDep) -> Limits:
    """Each per-owner cap (``max_trials``, ``max_epochs``, ``max_concurrency``,
    ``max_time_limit_s`` in seconds, ``max_synthetic_rows``, ``max_active_jobs``) with its
    source: ``owner`` when the administrator set one for you (``automtl owner limits``), else
    ``server`` (the ``AUTOMTL_MAX_*`` setting); and how many of your jobs are queued or
    running now. A spec over a cap gets 422; a submission at ``max_active_jobs`` gets 429."""
    own = owner.limits or {}
    effective = settings.for_owner(own)
    return Limits(limits={name: _plain(getattr(effective, name)) for name in OWNER_LIMITS},
                  source={name: "owner" if name in own else "server" for name in OWNER_LIMITS},
                  active_jobs=JobRepository(session).count_active_for_owner(owner.id))


def _plain(value: int | float) -> int | float:
    """A whole number of seconds as an integer (``86400``, not ``86400.0``); a fraction stays."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
