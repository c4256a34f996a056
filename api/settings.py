"""The service's settings: one pydantic-settings object read from ``AUTOMTL_*`` variables.

Development defaults make ``automtl serve`` work with nothing configured (a SQLite file and
uploads under ``./automtl-data``, local Ray). Outside development the defaults that are only
safe on one laptop are refused: ``AUTOMTL_ENV=production`` needs an explicit, non-SQLite
``AUTOMTL_DATABASE_URL``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024

#: the limits an administrator may set per owner (``automtl owner limits NAME --max-trials N``),
#: overriding the server-wide ``AUTOMTL_<NAME>`` for that owner's submissions, up or down
OWNER_LIMITS: tuple[str, ...] = ("max_trials", "max_epochs", "max_concurrency",
                                 "max_time_limit_s", "max_synthetic_rows", "max_active_jobs")


#: the largest value ``automtl owner limits`` sets per owner (a typo such as an extra zero
#: fails instead of lifting a cap out of sight): a million trials, 100,000 epochs, 10,000
#: concurrent trials, a year of wall time, a billion synthetic rows, 10,000 active jobs
OWNER_LIMIT_BOUNDS: dict[str, float] = {
    "max_trials": 1_000_000, "max_epochs": 100_000, "max_concurrency": 10_000,
    "max_time_limit_s": 366 * 24 * 3600.0, "max_synthetic_rows": 1_000_000_000,
    "max_active_jobs": 10_000}


def check_owner_limits(limits: Mapping[str, Any], *, bounded: bool = True) -> dict[str, float]:
    """``limits`` validated as per-owner overrides: known names, positive finite numbers
    (integers where the server-wide setting is one) and, when ``bounded`` (setting them), at
    most :data:`OWNER_LIMIT_BOUNDS`. Raises ``ValueError`` naming the key."""
    checked: dict[str, float] = {}
    for name, value in limits.items():
        if name not in OWNER_LIMITS:
            raise ValueError(f"{name}: not a per-owner limit; known: {', '.join(OWNER_LIMITS)}")
        integer = name != "max_time_limit_s"
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 \
                or value != value or value == float("inf") \
                or (integer and float(value) != int(value)):
            kind = "a positive integer" if integer else "a positive number"
            raise ValueError(f"{name}: must be {kind}, got {value!r}")
        if bounded and value > OWNER_LIMIT_BOUNDS[name]:
            given = int(value) if float(value).is_integer() else value
            raise ValueError(f"{name}: must be at most {OWNER_LIMIT_BOUNDS[name]:.0f}, "
                             f"got {given}")
        checked[name] = int(value) if integer else float(value)
    return checked


class Settings(BaseSettings):
    """Every knob of the API and the worker (environment variables ``AUTOMTL_<FIELD>``)."""

    model_config = SettingsConfigDict(env_prefix="AUTOMTL_", extra="ignore",
                                      validate_default=True)

    env: Literal["development", "test", "production"] = "development"
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/automtl.db "
                          "(development and test only)")
    data_dir: Path = Field(Path("automtl-data"), description="uploaded datasets live here")
    artifact_dir: Path | None = Field(None, description="trial weights; default "
                                                        "<data_dir>/artifacts")
    artifact_url: str | None = Field(
        None, description="an fsspec URL (s3://bucket/prefix, gs://..., file:///shared/...) "
                          "where trial weights go instead of artifact_dir, so every worker "
                          "node and the API reach them; its fsspec package must be installed")
    ray_address: str | None = Field(None, description="an existing Ray cluster; default: "
                                                      "start a local Ray per job")
    ray_num_cpus: int | None = Field(None, ge=1, description="CPUs of the local Ray")
    census_dir: Path | None = Field(None, description="directory with census-income.data/.test "
                                                      "for the census-income builtin")
    max_upload_bytes: int = Field(200 * MIB, ge=1, description="largest accepted upload")
    heartbeat_interval_s: float = Field(5.0, gt=0.0)
    stale_after_s: float = Field(60.0, gt=0.0, description="a running job whose heartbeat is "
                                                          "older is taken over")
    poll_interval_s: float = Field(2.0, gt=0.0, description="worker's wait on an empty queue")
    cancel_poll_interval_s: float = Field(
        0.5, gt=0.0, description="how often a worker reads its running job's cancel request "
                                 "(one primary-key read); a cancel takes effect this much "
                                 "later at most, plus the trials' stop")
    # ---- limits on what one request may ask (see the README, "Limits"). Server-wide defaults;
    # the ones in OWNER_LIMITS can be set per owner (`automtl owner limits`). A spec over a cap
    # is refused with 422 naming the field and where the cap comes from.
    max_trials: int = Field(10_000, ge=1, description="largest budget.trials (and "
                                                      "max_failures)")
    max_epochs: int = Field(1_000, ge=1, description="largest budget.epochs")
    max_concurrency: int = Field(64, ge=1, description="largest budget.concurrency")
    max_time_limit_s: float = Field(7 * 24 * 3600.0, gt=0.0,
                                    description="largest budget.time_limit_s")
    max_tasks: int = Field(64, ge=1, description="most tasks in one job")
    max_features: int = Field(10_000, ge=1, description="most feature columns in a list, "
                                                        "and synthetic features")
    max_synthetic_rows: int = Field(2_000_000, ge=100, description="largest synthetic rows")
    max_active_jobs: int = Field(20, ge=1, description="most queued plus running jobs of one "
                                                       "owner; a further POST /jobs gets 429")
    max_cpus_per_trial: float | None = Field(
        None, gt=0.0, description="CPUs of the largest node: more per trial is refused; "
                                  "unset: not checked at submit (a job no registered worker "
                                  "can serve waits, with its waiting_reason)")
    max_gpus_per_trial: float | None = Field(
        None, ge=0.0, description="GPUs of the largest node (0: no GPU anywhere): more per "
                                  "trial is refused; unset: not checked at submit")
    max_spec_bytes: int = Field(1 * MIB, ge=1024, description="largest JSON request body")
    max_json_depth: int = Field(32, ge=4, description="deepest nesting of a JSON body")
    max_list_items: int = Field(10_000, ge=16, description="longest list or object in a body")
    max_string_chars: int = Field(10_000, ge=64, description="longest string in a body")
    max_upload_rows: int = Field(20_000_000, ge=1, description="most rows of an upload")
    max_upload_cells: int = Field(200_000_000, ge=1, description="most rows x columns of an "
                                                                 "upload (bounds its memory)")
    api_workers: int = Field(
        1, ge=1, le=64, description="API processes `automtl serve` runs (uvicorn's workers "
                                    "on one socket): more than one spreads the requests over "
                                    "cores instead of one Python process's GIL; each has its "
                                    "own connection pools and result cache")
    db_pool_size: int = Field(20, ge=1, description="pooled database connections of each API "
                                                    "process, in each of its two pools "
                                                    "(requests, Optuna studies)")
    db_max_overflow: int = Field(20, ge=0, description="connections above each pool under "
                                                       "bursts, per API process")
    worker_nice: int = Field(
        10, ge=0, le=19, description="how much lower the CPU priority of the worker "
                                     "`automtl serve` starts (and of its Ray trials) is than "
                                     "the API's (os.nice increment): training on the same "
                                     "cores never starves the requests; 0: the same")
    live_results_ttl_s: float = Field(
        5.0, ge=0.0, description="seconds a running job's rendered front and report are "
                                 "reused while its trial counts are unchanged (a trial that "
                                 "starts or lands renders them again at once)")
    result_cache_entries: int = Field(64, ge=1, description="rendered fronts and report "
                                                           "pages the API keeps")
    token_ttl_days: float | None = Field(90.0, gt=0.0, description="lifetime of a new token; "
                                                                   "unset: never expires")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    @field_validator("artifact_url")
    @classmethod
    def _usable_artifact_url(cls, value: str | None) -> str | None:
        from automtl.artifact_store import check_url

        return None if value is None else check_url(value)

    @model_validator(mode="after")
    def _safe_for_the_environment(self) -> Settings:
        if self.stale_after_s <= 2 * self.heartbeat_interval_s:
            raise ValueError(
                f"AUTOMTL_STALE_AFTER_S ({self.stale_after_s}) must exceed twice "
                f"AUTOMTL_HEARTBEAT_INTERVAL_S ({self.heartbeat_interval_s}), or live jobs "
                "would be taken over")
        if self.database_url is not None:
            from automtl_storage import normalize_url

            normalize_url(self.database_url)  # an unsupported backend is an error here
        if self.env == "production":
            if self.database_url is None:
                raise ValueError("AUTOMTL_DATABASE_URL must be set when AUTOMTL_ENV=production "
                                 "(e.g. postgresql://user@host/automtl)")
            if self.database_url.startswith("sqlite"):
                raise ValueError("AUTOMTL_DATABASE_URL: SQLite is for development only; use "
                                 "PostgreSQL when AUTOMTL_ENV=production")
        return self

    @staticmethod
    def variable(field: str) -> str:
        """The environment variable that sets ``field``: ``AUTOMTL_ARTIFACT_URL``."""
        return f"AUTOMTL_{field.upper()}"

    def for_owner(self, limits: Mapping[str, Any] | None) -> Settings:
        """These settings with an owner's own limits (``automtl_owners.limits``: keys of
        :data:`OWNER_LIMITS`) in place of the server's; unknown keys raise ``ValueError``."""
        if not limits:
            return self
        check_owner_limits(limits, bounded=False)  # stored ones were checked when set
        return self.model_copy(update=dict(limits))

    @property
    def resolved_database_url(self) -> str:
        """The database URL, normalised (psycopg 3 for PostgreSQL; the SQLite default)."""
        from automtl_storage import normalize_url

        if self.database_url is not None:
            return normalize_url(self.database_url)
        return normalize_url(f"sqlite:///{(self.data_dir / 'automtl.db').resolve()}")

    @property
    def resolved_artifact_dir(self) -> Path:
        return (self.artifact_dir or self.data_dir / "artifacts").resolve()

    @property
    def artifact_location(self) -> str | Path:
        """Where trial folders live and stored artifact paths are relative to: the artifact
        URL when one is set, else the artifact directory."""
        return self.artifact_url or self.resolved_artifact_dir

    @property
    def path_roots(self) -> tuple[Path, ...]:
        """Server directories whose paths are shown to clients relative to them."""
        return (self.resolved_artifact_dir, self.data_dir.resolve())

    @property
    def api_connections_max(self) -> int:
        """The most database connections the API processes can open in all: ``api_workers``
        x 2 pools (the requests' and the Optuna studies') x (``db_pool_size`` +
        ``db_max_overflow``): 80 per process by default. What they open is bounded by the
        requests running at once (at most 40 per process, Starlette's thread pool); under the
        20 + 50 client load 4 processes had at most 49-71 connections to PostgreSQL open, of
        320 possible. ``automtl serve`` warns at start-up when this exceeds what the
        PostgreSQL server takes (:func:`automtl_api.commands.check_connection_bound`)."""
        return self.api_workers * 2 * (self.db_pool_size + self.db_max_overflow)

    @property
    def upload_dir(self) -> Path:
        """Where uploads are stored, under generated names."""
        return (self.data_dir / "datasets").resolve()

    def environment(self) -> dict[str, str]:
        """These settings as ``AUTOMTL_*`` variables with resolved paths, for a child process
        (``automtl serve`` starts its worker with them)."""
        values = {
            "AUTOMTL_ENV": self.env,
            "AUTOMTL_DATABASE_URL": self.resolved_database_url,
            "AUTOMTL_DATA_DIR": str(self.data_dir.resolve()),
            "AUTOMTL_ARTIFACT_DIR": str(self.resolved_artifact_dir),
            "AUTOMTL_MAX_UPLOAD_BYTES": str(self.max_upload_bytes),
            "AUTOMTL_HEARTBEAT_INTERVAL_S": str(self.heartbeat_interval_s),
            "AUTOMTL_STALE_AFTER_S": str(self.stale_after_s),
            "AUTOMTL_POLL_INTERVAL_S": str(self.poll_interval_s),
            "AUTOMTL_CANCEL_POLL_INTERVAL_S": str(self.cancel_poll_interval_s),
            "AUTOMTL_HOST": self.host,
            "AUTOMTL_PORT": str(self.port),
        }
        for name in ("max_trials", "max_epochs", "max_concurrency", "max_time_limit_s",
                     "max_tasks", "max_features", "max_synthetic_rows", "max_active_jobs",
                     "max_cpus_per_trial",
                     "max_gpus_per_trial", "max_spec_bytes", "max_json_depth",
                     "max_list_items", "max_string_chars", "max_upload_rows",
                     "max_upload_cells", "api_workers", "db_pool_size", "db_max_overflow",
                     "token_ttl_days", "live_results_ttl_s", "result_cache_entries",
                     "worker_nice"):
            value = getattr(self, name)
            if value is not None:
                values[f"AUTOMTL_{name.upper()}"] = str(value)
        if self.ray_address:
            values["AUTOMTL_RAY_ADDRESS"] = self.ray_address
        if self.artifact_url:
            values["AUTOMTL_ARTIFACT_URL"] = self.artifact_url
        if self.ray_num_cpus:
            values["AUTOMTL_RAY_NUM_CPUS"] = str(self.ray_num_cpus)
        if self.census_dir:
            values["AUTOMTL_CENSUS_DIR"] = str(self.census_dir.resolve())
        return values


def settings_errors(exc: ValidationError,
                    flags: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """A settings ``ValidationError`` as ``(name, message)`` pairs naming what the user set:
    the environment variable (``AUTOMTL_ARTIFACT_URL``, not the field ``artifact_url``), or
    the command-line flag of ``flags`` (field -> ``--port``) that gave the value; ``""`` for a
    problem of several settings, whose message names their variables."""
    out = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        field = loc[0] if loc else ""
        name = (flags or {}).get(field) or (Settings.variable(field) if field else "")
        out.append((name, str(error["msg"]).removeprefix("Value error, ")))
    return out
