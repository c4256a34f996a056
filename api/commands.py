"""Service commands: ``serve``, ``worker``, ``token create``, ``owner limits``, and
``submit``/``status``/``report`` against a running server (``--url`` / ``AUTOMTL_URL``,
``--token`` / ``AUTOMTL_TOKEN``).

``serve`` and ``worker`` read their settings from ``AUTOMTL_*`` variables (see
:class:`api.settings.Settings`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automtl_api.settings import Settings

TERMINAL = ("succeeded", "failed", "cancelled")
#: the help of ``--db``, the database flag of every service command (``db upgrade``'s too)
DB_HELP = "database URL (default: $AUTOMTL_DATABASE_URL or the development SQLite file)"


def _add_db(parser: argparse.ArgumentParser) -> None:
    """``--db URL``, the one name every service command gives its database flag."""
    parser.add_argument("--db", default=None, metavar="URL", help=DB_HELP)


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="run the REST API and one worker",
                                  description="Apply the migrations, start one worker "
                                  "subprocess and serve the API (uvicorn). Settings come from "
                                  "AUTOMTL_* variables; by default a SQLite file and uploads "
                                  "under ./automtl-data and a local Ray.")
    serve.add_argument("--host", default=None, help="default: $AUTOMTL_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: $AUTOMTL_PORT or 8000")
    serve.add_argument("--no-worker", action="store_true",
                       help="serve the API only (run `automtl worker` elsewhere)")
    serve.add_argument("--api-workers", type=int, default=None, metavar="N",
                       help="API processes sharing the port (uvicorn's workers; default: "
                            "$AUTOMTL_API_WORKERS or 1); still one job worker per serve")
    _add_db(serve)
    serve.set_defaults(handler=_serve)

    worker = subparsers.add_parser("worker", help="run queued search jobs, one at a time",
                                   description="Claim queued jobs (and take over abandoned "
                                   "ones) and run them until stopped.")
    worker.add_argument("--max-jobs", type=int, default=None,
                        help="exit after running this many jobs (default: never)")
    _add_db(worker)
    worker.set_defaults(handler=_worker)

    token = subparsers.add_parser("token", help="API tokens")
    actions = token.add_subparsers(dest="token_command", metavar="ACTION")
    actions.required = True
    create = actions.add_parser("create", help="create an owner's token and print it (once)")
    create.add_argument("name", help="the owner (created when new)")
    _add_db(create)
    create.add_argument("--label", default=None, help="the token's label (default: NAME)")
    create.add_argument("--ttl-days", type=float, default=None,
                        help="days until the token expires (default: $AUTOMTL_TOKEN_TTL_DAYS, "
                             "90); 0: never")
    create.set_defaults(handler=_token_create)
    revoke = actions.add_parser("revoke", help="revoke a token (its id, or the token itself)",
                                description="Revoke a token at once: requests with it get 401. "
                                            "Give the id `token create` printed, or the token.")
    revoke.add_argument("token", help="the token's id or the token (amtl_...)")
    _add_db(revoke)
    revoke.set_defaults(handler=_token_revoke)
    listing = actions.add_parser("list", help="list the tokens (never the tokens themselves)",
                                 description="One line per token: id, owner, label, created, "
                                             "expires, last used, and whether it is revoked "
                                             "or expired.")
    listing.add_argument("--owner", default=None, help="only this owner's tokens")
    _add_db(listing)
    listing.set_defaults(handler=_token_list)

    owner = subparsers.add_parser("owner", help="owners' own limits")
    owner_actions = owner.add_subparsers(dest="owner_command", metavar="ACTION")
    owner_actions.required = True
    limits = owner_actions.add_parser(
        "limits", help="show or set an owner's own caps",
        description="Show an owner's caps (their own, or the server's AUTOMTL_MAX_*), or set "
                    "them: each --max-* replaces the server-wide cap for this owner's new "
                    "submissions, up or down (at most the bound its help names); --reset drops "
                    "them all. Jobs already queued keep running. Setting a cap creates the "
                    "owner when new; the database is migrated first, as by `automtl serve`.")
    limits.add_argument("name", help="the owner")
    _add_db(limits)
    from automtl_api.settings import OWNER_LIMIT_BOUNDS, OWNER_LIMITS, Settings

    for field in OWNER_LIMITS:
        default = Settings.model_fields[field].default
        limits.add_argument(
            f"--{field.replace('_', '-')}", dest=field, default=None,
            type=float if field == "max_time_limit_s" else int,
            metavar="SECONDS" if field == "max_time_limit_s" else "N",
            help=f"{str(Settings.model_fields[field].description).split(';')[0]}, at most "
                 f"{plain_number(OWNER_LIMIT_BOUNDS[field])}. Default: unchanged (an owner "
                 f"without their own gets the server's AUTOMTL_{field.upper()}, by default "
                 f"{plain_number(default)})")
    limits.add_argument("--reset", action="store_true",
                        help="drop the owner's own caps (the server's apply)")
    limits.set_defaults(handler=_owner_limits)

    for name, helptext, handler in (
            ("submit", "submit a job spec to a running server", _submit),
            ("status", "show a job's status and progress", _status),
            ("resume", "queue a cancelled or failed job again: it keeps its finished trials "
                       "and retries the interrupted ones", _resume),
            ("report", "fetch a job's Pareto front (json, csv) or report page (html)", _report)):
        parser = subparsers.add_parser(name, help=helptext, description=helptext)
        parser.add_argument("--url", default=None, help="server (default: $AUTOMTL_URL or "
                                                        "http://127.0.0.1:8000)")
        parser.add_argument("--token", default=None, help="default: $AUTOMTL_TOKEN")
        parser.set_defaults(handler=handler)
        if name == "submit":
            parser.add_argument("spec", type=Path, help="job spec (YAML or JSON); a local "
                                "dataset `path` is uploaded first and replaced by its id, once "
                                "the spec passed the checks that need no server")
        elif name == "report":
            parser.add_argument("job", type=int, nargs="?", default=None,
                                help="job id (or --search-dir for a local search)")
            parser.add_argument("--search-dir", type=Path, default=None,
                                help="report a local search from its output directory "
                                     "('automtl search --out DIR'), no server needed")
            parser.add_argument("--study", default=None,
                                help="with --search-dir: the study, when the directory's "
                                     "database holds several")
            parser.add_argument("--db", default=None,
                                help="with --search-dir: the study's storage URL when it is "
                                     "not SEARCH_DIR/automtl.db (as in 'automtl export')")
        else:
            parser.add_argument("job", type=int, help="job id")
        if name == "status":
            parser.add_argument("--wait", action="store_true",
                                help="poll until the job ends; exit 0 if it succeeded, 1 if "
                                     "it failed or was cancelled (2: the server refused the "
                                     "request, 1: it could not answer)")
            parser.add_argument("--interval", type=float, default=5.0,
                                help="seconds between two status lines with --wait")
        if name == "report":
            parser.add_argument("--format", choices=("json", "csv", "html"), default="json",
                                help="the front as JSON or CSV, or the HTML report page")
            parser.add_argument("--out", type=Path, default=None,
                                help="write to this file (default: stdout; for --search-dir "
                                     "with --format html, SEARCH_DIR/report.html)")


# ------------------------------------------------------------------------------ server side


def _settings(**overrides: Any) -> Any:
    from pydantic import ValidationError

    from automtl_api.settings import Settings, settings_errors

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        # a value from a flag is named by the flag, any other by its AUTOMTL_* variable
        for name, message in settings_errors(exc, {k: f"--{k}" for k in given}):
            print(f"settings: {name + ': ' if name else ''}{message}", file=sys.stderr)
        raise SystemExit(2) from None


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from automtl_api.main import create_app
    from automtl_storage import optuna_storage, upgrade

    settings = _settings(host=args.host, port=args.port, database_url=args.db,
                         api_workers=args.api_workers)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    warning = check_connection_bound(settings)
    if warning is not None:
        print(f"automtl serve: {warning}", file=sys.stderr, flush=True)
    processes = settings.api_workers
    if processes > 1:
        # Optuna's tables created here, once: each API process opens Optuna's storage at its
        # start, which creates them when missing, and on a new database several processes
        # did so at once: all but one failed on the tables (or PostgreSQL's enum types)
        # another had just created, and uvicorn started those processes again
        optuna_storage(settings.resolved_database_url).engine.dispose()
    # one API process: the app lives here; several: each of uvicorn's processes (spawned, so
    # a fresh interpreter) builds its own from these settings, passed as AUTOMTL_* variables
    app: Any = create_app(settings) if processes == 1 else API_APP_FACTORY
    if processes > 1:
        os.environ.update(settings.environment())
        os.environ[PARENT_PID_VARIABLE] = str(os.getpid())
    # the one job worker of this serve, whatever the number of API processes
    supervisor = None if args.no_worker else WorkerProcess(settings.environment(),
                                                           nice=settings.worker_nice)
    if supervisor is not None:
        supervisor.start()
    # uvicorn re-raises a SIGTERM it caught once it has shut down; with the default handler
    # that would kill this process before the `finally` below stops the worker (and its Ray).
    # With several processes uvicorn's supervisor takes SIGTERM/SIGINT over, stops and joins
    # its processes and returns here.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info",
                    workers=processes, factory=processes > 1)
    finally:
        if supervisor is not None:
            supervisor.stop()
    return 0


def check_connection_bound(settings: Settings) -> str | None:
    """A start-up warning when the API processes could open more PostgreSQL connections than
    the server takes (``None`` when they cannot, and on SQLite): ``--api-workers`` x 2 pools
    x (pool size + overflow) (:attr:`Settings.api_connections_max`) over ``max_connections``
    less its reserved connections. Past that bound a burst of concurrent requests would get
    PostgreSQL's "too many clients" as 500s. A warning, not a refusal: what the processes
    open is bounded by the requests running at once (4 processes under the 20 + 50 client
    load: at most 49-71 connections of the 320 possible), while smaller pools than the 40
    requests a process runs at once stall (5 + 5 per pool at 4 processes: "QueuePool limit"
    errors, requests hung 60 s)."""
    from automtl_storage import connection_limit

    limit = connection_limit(settings.resolved_database_url)
    if limit is None or settings.api_connections_max <= limit[0]:
        return None
    return (f"warning: {settings.api_workers} API process(es) x 2 pools (requests, Optuna "
            f"studies) x ({settings.db_pool_size} pooled + {settings.db_max_overflow} "
            f"overflow; AUTOMTL_DB_POOL_SIZE, AUTOMTL_DB_MAX_OVERFLOW) can open "
            f"{settings.api_connections_max} PostgreSQL connections, and the server takes "
            f"{limit[0]} ({limit[1]}): a burst of more concurrent requests than it takes "
            f"gets 500s (\"too many clients\"); raise the server's max_connections to "
            f"{settings.api_connections_max} plus the worker's, or run fewer API processes "
            f"(--api-workers); pools below the 40 requests a process runs at once stall")


#: what each of several API processes imports and calls (uvicorn's factory string)
API_APP_FACTORY = "automtl_api.commands:api_process_app"


def api_process_app() -> Any:
    """The app of one of ``automtl serve --api-workers N``'s processes, from the ``AUTOMTL_*``
    settings serve put in the environment. The process ends with its serve: Linux sends it
    SIGTERM when serve dies, also by ``kill -9`` (uvicorn's processes would otherwise keep
    serving the port, orphaned); one whose serve is already gone exits at once."""
    from automtl_api.main import create_app

    parent = os.environ.get(PARENT_PID_VARIABLE, "")
    if parent.isdigit():
        _die_with_parent()
        if os.getppid() != int(parent):  # serve died before the line above
            raise SystemExit("automtl serve is gone; this API process stops")
    return create_app()


#: set by ``automtl serve`` for its worker: the worker stops (and stops its Ray) once this
#: process is gone, also after a ``kill -9`` of serve, instead of running beside the next one
PARENT_PID_VARIABLE = "AUTOMTL_PARENT_PID"


def _die_with_parent() -> None:
    """In the forked child, before exec: ask Linux to SIGTERM it when its parent dies
    (``prctl(PR_SET_PDEATHSIG)``); elsewhere the worker's own parent watch does it."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def watch_parent(parent_pid: int, interval: float = 1.0) -> threading.Thread:
    """A daemon thread that SIGTERMs this process once ``parent_pid`` is no longer its parent
    (the parent died and the process was re-parented): the SIGTERM handler then stops the
    worker as a ``kill`` would."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        print("automtl worker: its automtl serve is gone; stopping", file=sys.stderr,
              flush=True)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


class WorkerProcess:
    """``automtl worker`` as a child process, restarted if it dies while the API serves.

    It runs ``nice`` steps below this process's CPU priority (``AUTOMTL_WORKER_NICE``, 10 by
    default), and so do the Ray processes it starts, which inherit it: on a machine that both
    serves and trains, the training takes the CPU the requests leave over."""

    def __init__(self, environment: dict[str, str], nice: int = 0) -> None:
        if not 0 <= nice <= 19:
            raise ValueError(f"nice: must be 0..19, got {nice}")
        self._nice = nice
        self._env = {**os.environ, **environment, "TUNE_DISABLE_SIGINT_HANDLER": "1"}
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._supervise, name="worker-supervisor",
                                        daemon=True)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        env = {**self._env, PARENT_PID_VARIABLE: str(os.getpid())}
        nice = self._nice

        def before_exec() -> None:
            if nice:
                os.nice(nice)
            _die_with_parent()

        self._process = subprocess.Popen([sys.executable, "-m", "automtl.cli", "worker"],
                                         env=env, preexec_fn=before_exec)

    def _supervise(self) -> None:
        while not self._stopping.wait(2.0):
            if self._process is not None and self._process.poll() is not None:
                print(f"automtl serve: the worker exited ({self._process.returncode}); "
                      "starting another", file=sys.stderr, flush=True)
                self._spawn()

    def stop(self, timeout: float = 60.0) -> None:
        self._stopping.set()
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _worker(args: argparse.Namespace) -> int:
    import logging

    from automtl_api.worker import Worker
    from automtl_storage.migrate import is_up_to_date

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s "
                                                   "%(message)s")
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")
    settings = _settings(database_url=args.db)
    if not is_up_to_date(settings.resolved_database_url):
        from sqlalchemy.engine import make_url

        shown = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
        print(f"the database schema is not up to date: run `automtl db upgrade --db {shown}` "
              "(or `automtl serve`, which applies it)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    parent = os.environ.get(PARENT_PID_VARIABLE, "")
    if parent.isdigit():
        watch_parent(int(parent))
    worker = Worker(settings)
    print(f"automtl worker {worker.worker_id}: waiting for jobs", file=sys.stderr, flush=True)
    try:
        worker.run_forever(max_jobs=args.max_jobs)
    except (KeyboardInterrupt, SystemExit):
        print(f"automtl worker {worker.worker_id}: stopped", file=sys.stderr, flush=True)
    finally:
        worker.close()
    return 0


def _token_create(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from automtl_storage import Database, OwnerRepository, TokenRepository, upgrade, utcnow

    settings = _settings()
    url = args.db or settings.resolved_database_url
    ttl = settings.token_ttl_days if args.ttl_days is None else args.ttl_days
    if ttl is not None and ttl < 0:
        print("token create: --ttl-days must be >= 0 (0: never expires)", file=sys.stderr)
        return 2
    expires = utcnow() + timedelta(days=ttl) if ttl else None
    upgrade(url)
    with Database(url) as database, database.session() as session:
        owner = OwnerRepository(session).get_or_create(args.name)
        row, token = TokenRepository(session).create(owner.id, args.label or args.name,
                                                     expires_at=expires)
    print(token)
    print(f"database: {_shown_url(url)}", file=sys.stderr)
    until = f"expires {expires:%Y-%m-%d %H:%M} UTC" if expires else "never expires"
    print(f"(token id {row.id} for {args.name!r}, {until}; it is shown only this once: keep "
          f"it, e.g. export AUTOMTL_TOKEN=...; revoke it with `automtl token revoke "
          f"{row.id}`)", file=sys.stderr)
    return 0


def plain_number(value: float) -> str:
    """``value`` as a person reads and can pass back to ``--max-*``: an integral value as an
    integer (``2000000``, not ``2e+06``), another as Python writes it (``0.5``)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _owner_limits(args: argparse.Namespace) -> int:
    from automtl_api.settings import OWNER_LIMITS, check_owner_limits
    from automtl_storage import Database, OwnerRepository, upgrade

    settings = _settings()
    url = args.db or settings.resolved_database_url
    given = {f: getattr(args, f) for f in OWNER_LIMITS if getattr(args, f) is not None}
    try:
        given = check_owner_limits(given)
    except ValueError as exc:
        name, _, problem = str(exc).partition(":")  # the flag, e.g. --max-time-limit-s
        print(f"owner limits: --{name.replace('_', '-')}:{problem}", file=sys.stderr)
        return 2
    upgrade(url)  # as `serve` and `token create` do: a new database works at once
    with Database(url) as database, database.session() as session:
        owners = OwnerRepository(session)
        owner = owners.get_by_name(args.name)
        if owner is None and not given:
            print(f"owner limits: no owner {args.name!r}: `automtl token create {args.name}` "
                  f"or setting a cap (--max-trials N, ...) creates one", file=sys.stderr)
            return 2
        if owner is None:
            owner = owners.get_or_create(args.name)
        if args.reset or given:
            merged = {} if args.reset else dict(owner.limits or {})
            owners.set_limits(owner, {**merged, **given})
        own = dict(owner.limits or {})
    effective = settings.for_owner(own)
    for field in OWNER_LIMITS:
        source = "owner" if field in own else f"server (AUTOMTL_{field.upper()})"
        print(f"{field:<20} {plain_number(getattr(effective, field)):>14}  {source}")
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    from automtl_storage import Database, TokenRepository, hash_token, upgrade

    url = args.db or _settings().resolved_database_url
    upgrade(url)  # as `serve` and `token create` do
    with Database(url) as database, database.session() as session:
        tokens = TokenRepository(session)
        if args.token.isdigit() and len(args.token) <= 10:
            row = tokens.get(int(args.token))
        else:
            row = tokens.get_by_hash(hash_token(args.token))
        if row is None:
            print(f"token revoke: no token {args.token[:12]!r} in {_shown_url(url)} "
                  "(`automtl token list` shows its tokens)", file=sys.stderr)
            return 2
        if row.revoked:
            print(f"token revoke: token {row.id} ({row.name!r} of owner {row.owner.name!r}) "
                  f"was already revoked (database: {_shown_url(url)})", file=sys.stderr)
            return 2
        tokens.revoke(row.id)
        print(f"revoked token {row.id} ({row.name!r} of owner {row.owner.name!r}); "
              f"database: {_shown_url(url)}", file=sys.stderr)
    return 0


def _token_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from automtl_storage import ApiToken, Database, OwnerRepository, upgrade, utcnow

    url = args.db or _settings().resolved_database_url
    upgrade(url)  # as `serve` and `token create` do
    print(f"database: {_shown_url(url)}", file=sys.stderr)
    with Database(url) as database, database.session() as session:
        query = select(ApiToken).order_by(ApiToken.id)
        if args.owner is not None:
            owner = OwnerRepository(session).get_by_name(args.owner)
            if owner is None:
                print(f"token list: no owner {args.owner!r}", file=sys.stderr)
                return 2
            query = query.where(ApiToken.owner_id == owner.id)
        rows = session.scalars(query).all()
        now = utcnow()
        print(f"{'id':>4}  {'owner':<16} {'label':<16} {'created':<16} {'expires':<16} "
              f"{'last used':<16} state")

        def when(value: Any) -> str:
            return f"{value:%Y-%m-%d %H:%M}" if value is not None else "-"

        for row in rows:
            state = ("revoked" if row.revoked else "expired"
                     if row.expires_at is not None and row.expires_at <= now else "active")
            print(f"{row.id:>4}  {row.owner.name[:16]:<16} {row.name[:16]:<16} "
                  f"{when(row.created_at):<16} {when(row.expires_at):<16} "
                  f"{when(row.last_used_at):<16} {state}")
    return 0


def _shown_url(url: str) -> str:
    """A database URL as a person should see it: the password hidden, a SQLite file's path
    absolute (which ``./automtl-data/automtl.db`` a command used depends on its folder)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database and \
            parsed.database != ":memory:":
        parsed = parsed.set(database=str(Path(parsed.database).resolve()))
    return parsed.render_as_string(hide_password=True)


# ------------------------------------------------------------------------------ client side


def _client(args: argparse.Namespace) -> Any:
    from automtl_api.client import ApiClient

    return ApiClient(args.url, args.token)


def _fail(exc: Exception) -> int:
    """Print the server's problems; exit 2 when the server refused the input (4xx: bad spec,
    token or job id), 1 when it could not answer (down, 5xx)."""
    problems = getattr(exc, "problems", None) or [("", str(exc))]
    status = getattr(exc, "status_code", None)
    print(f"error{f' (HTTP {status})' if status else ''}:", file=sys.stderr)
    for path, message in problems:
        print(f"  {path + ': ' if path else ''}{message}", file=sys.stderr)
    return 2 if isinstance(status, int) and 400 <= status < 500 else 1


def _submit(args: argparse.Namespace) -> int:
    import yaml

    from automtl.commands.console import UserError
    from automtl_api.client import ApiClientError
    from search_spaces import read_yaml

    try:
        text = args.spec.read_text()
    except OSError as exc:
        raise UserError(f"cannot read {args.spec}: {exc.strerror or exc}", field="spec") from None
    try:
        spec = json.loads(text) if args.spec.suffix.lower() == ".json" else read_yaml(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        detail = " ".join(str(exc).split())
        raise UserError(f"{args.spec} is not valid YAML/JSON: {detail}", field="spec") from None
    if not isinstance(spec, dict):
        raise UserError(f"{args.spec}: a job spec is a mapping, got {type(spec).__name__}",
                        field="spec")
    dataset = spec.get("dataset")
    if isinstance(dataset, dict) and "path" in dataset and "builtin" not in dataset:
        problems = _local_spec_errors(spec, args.spec.parent)
        if problems:  # refused before the data is uploaded (the server would refuse it after)
            print("error (the spec and its data, checked here before the data is uploaded):",
                  file=sys.stderr)
            for path, message in problems:
                print(f"  {path + ': ' if path else ''}{message}", file=sys.stderr)
            return 2
    try:
        with _client(args) as client:
            dataset = spec.get("dataset") if isinstance(spec, dict) else None
            if isinstance(dataset, dict) and "path" in dataset and "builtin" not in dataset:
                local = (args.spec.parent / dataset.pop("path")).resolve()
                uploaded = client.upload_dataset(local)
                dataset["id"] = str(uploaded["id"])
                print(f"uploaded {local} as dataset {uploaded['id']} ({uploaded['rows']} rows)",
                      file=sys.stderr)
            job = client.submit(spec)
    except ApiClientError as exc:
        return _fail(exc)
    print(job["id"])
    print(f"job {job['id']} {job['name']!r} {job['status']}", file=sys.stderr)
    for warning in job.get("warnings") or []:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _local_spec_errors(spec: dict[str, Any], base: Path) -> list[tuple[str, str]]:
    """Every error :func:`automtl.jobspec.load_job_spec` finds in a spec whose dataset is a
    local file (its ``path`` read relative to ``base``, the spec's folder), or else the first
    error of the data checks ``automtl spec validate --data`` runs, so ``submit`` does not
    upload the data of a spec the server would refuse; ``[]`` when it is valid here (the
    server still checks it against its limits and the uploaded columns)."""
    import copy

    from automtl.jobspec import JobSpecError, load_job_spec

    local = copy.deepcopy(spec)
    local["dataset"]["path"] = str((base / str(local["dataset"]["path"])).resolve())
    try:
        loaded = load_job_spec(local)
    except JobSpecError as exc:
        return list(exc.errors)
    from automtl.data import DataError
    from automtl.jobspec import data_error_path
    from automtl.search.datasets import load_dataset

    try:  # the data checks `automtl spec validate --data` runs (a label's values, ...)
        dataset = load_dataset(loaded.dataset, loaded.tasks, loaded.seed, domains=loaded.domains)
    except DataError as exc:
        return [(data_error_path(loaded, exc), str(exc))]
    for note in dataset.notes:  # e.g. missing values imputed: said before the upload
        print(f"note: {note}", file=sys.stderr)
    return []


def _status_line(job: dict[str, Any]) -> str:
    p = job["progress"]
    hv = f"{p['hypervolume']:.4g}" if p.get("hypervolume") is not None else "-"
    elapsed = f"{p['elapsed_s']:.0f}s" if p.get("elapsed_s") is not None else "-"
    from automtl_api.client import (
        empty_front_warning,
        running_phrase,
        stage_phrase,
        trials_phrase,
    )

    line = (f"job {job['id']} {job['name']!r}: {job['status']}{stage_phrase(job)}; trials: "
            f"{trials_phrase(p)}, {running_phrase(job)}; front {p['front_size']}, "
            f"hypervolume {hv}; elapsed {elapsed}")
    if job.get("waiting_reason"):  # a queued job no live worker can serve: say why it waits
        line += f"\n  waiting: {job['waiting_reason']}"
    empty = empty_front_warning(job)
    if empty:  # succeeded, and left nothing
        line += f"\n  warning: {empty}"
    return line + (f"\n  error: {job['error']}" if job.get("error") else "")


def _status(args: argparse.Namespace) -> int:
    from automtl_api.client import ApiClientError

    try:
        with _client(args) as client:
            job = client.job(args.job)
            print(_status_line(job), flush=True)
            while args.wait and job["status"] not in TERMINAL:
                time.sleep(args.interval)
                job = client.job(args.job)
                print(_status_line(job), flush=True)
    except ApiClientError as exc:
        return _fail(exc)
    return 0 if not args.wait or job["status"] == "succeeded" else 1


def _resume(args: argparse.Namespace) -> int:
    from automtl_api.client import ApiClientError

    try:
        with _client(args) as client:
            job = client.resume(args.job)
    except ApiClientError as exc:
        return _fail(exc)
    print(_status_line(job))
    return 0


def _report(args: argparse.Namespace) -> int:
    from automtl.commands.console import UserError
    from automtl_api.client import ApiClientError

    if (args.job is None) == (args.search_dir is None):
        raise UserError("give a job id (a server's job) or --search-dir DIR (a local search), "
                        "not both", field="job")
    if args.db is not None and args.search_dir is None:
        raise UserError("--db reads a local search's storage: give it with --search-dir (a "
                        "server's job is read through --url)", field="--db")
    if args.search_dir is not None:
        from automtl.commands.local_report import local_report

        text = local_report(args.search_dir, args.format, storage_url=args.db,
                            study_name=args.study)
        out = args.out or (args.search_dir / "report.html" if args.format == "html" else None)
        if out is None:
            sys.stdout.write(text)
        else:
            out.write_text(text)
            print(f"wrote {out}", file=sys.stderr)
        return 0
    try:
        with _client(args) as client:
            if args.format == "html":
                text = client.report(args.job)
            else:
                response = client.pareto(args.job, args.format)
                text = response.text if args.format == "csv" else \
                    json.dumps(response.json(), indent=2) + "\n"
    except ApiClientError as exc:
        return _fail(exc)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
