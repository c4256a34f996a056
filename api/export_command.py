"""``automtl export``: write the training bundle of one trial.

From the service's database: ``automtl export JOB [--trial N | --prefer TASK=WEIGHT,...] --out
DIR`` (``--db URL``, else ``AUTOMTL_DATABASE_URL``, else the service's default SQLite file);
the export is recorded in the exports table. From a server over REST, as ``submit``/``status``/
``report`` talk to it: ``automtl export JOB --url URL --token TOKEN --out DIR`` (also with
``AUTOMTL_URL``/``AUTOMTL_TOKEN`` set and no database named): ``GET /jobs/JOB/export``.
From a local search (``automtl search --out SEARCH``): ``automtl export --search-dir SEARCH
[--trial N | --prefer ...] --out DIR``.

Without ``--trial`` the trial is chosen from the Pareto front by a weighted sum of the
objectives, each min-max normalised over the front (1 = best); ``--prefer`` sets the weights
(unnamed objectives weigh 1). The choice and its reason are printed and written to the bundle.

A service command (registered through the ``automtl.commands`` entry points): reading a job
needs the service's database and settings, which the library never imports. The local
``--search-dir`` form only composes the library (:func:`automtl.export.search_dir_source`), as
``automtl report --search-dir`` does.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automtl.export import ExportResult, ExportSource

URL_ENV = "AUTOMTL_DATABASE_URL"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="write the training bundle (config, train.py, model.py, weights, "
                       "TorchScript) of a trial", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job", nargs="?", type=int, help="job id in the service's database")
    parser.add_argument("--search-dir", help="export from a local 'automtl search --out' "
                                             "directory instead of the database")
    parser.add_argument("--study", help="study name in --search-dir (when it holds several)")
    choose = parser.add_mutually_exclusive_group()
    choose.add_argument("--trial", type=int, help="trial number to export")
    choose.add_argument("--prefer", help="objective weights for choosing among the front, "
                                         "e.g. ctr=2,cvr=1 (default: equal weights)")
    parser.add_argument("--out", required=True, help="bundle directory (must be new or empty)")
    parser.add_argument("--force", action="store_true",
                        help="write into --out even when it is not empty")
    parser.add_argument("--db", help=f"database URL (default: ${URL_ENV}, else the service's "
                                      "default SQLite file); with --search-dir, the study's "
                                      "storage URL if it is not SEARCH/automtl.db")
    parser.add_argument("--url", default=None,
                        help="fetch the bundle from this automtl server over REST (GET "
                             "/jobs/JOB/export) instead of reading its database (default: "
                             "$AUTOMTL_URL when neither --db nor $AUTOMTL_DATABASE_URL is set)")
    parser.add_argument("--token", default=None,
                        help="the server's bearer token (default: $AUTOMTL_TOKEN)")
    parser.add_argument("--artifact-dir",
                        help="the service's artifact directory, which trial artifact paths are "
                             "stored relative to (default: $AUTOMTL_ARTIFACT_DIR, else "
                             "$AUTOMTL_DATA_DIR/artifacts, else automtl-data/artifacts)")
    parser.set_defaults(handler=_run)


def _artifact_root(given: str | None) -> Path:
    """The service's artifact directory, resolved as ``automtl_api.settings.Settings`` does."""
    if given:
        return Path(given).resolve()
    if os.environ.get("AUTOMTL_ARTIFACT_DIR"):
        return Path(os.environ["AUTOMTL_ARTIFACT_DIR"]).resolve()
    return (Path(os.environ.get("AUTOMTL_DATA_DIR", "automtl-data")) / "artifacts").resolve()


def _run(args: argparse.Namespace) -> int:
    from automtl.export import (
        ExportError,
        OutputDirectoryError,
        PreferenceError,
        export_trial,
        parse_prefer,
    )

    if (args.job is None) == (args.search_dir is None):
        print("give a JOB id or --search-dir DIR (one of them)", file=sys.stderr)
        return 2
    try:
        prefer = parse_prefer(args.prefer)
        if args.search_dir is not None:
            from automtl.export import search_dir_source

            source = search_dir_source(args.search_dir, storage_url=args.db,
                                       study_name=args.study)
            result = export_trial(source, args.out, trial=args.trial, prefer=prefer,
                                  overwrite=args.force)
        elif _over_rest(args):
            return _export_over_rest(args)
        else:
            source, result = _export_job(args, prefer)
    except PreferenceError as exc:  # the library's messages name no option: this one's is
        print(f"automtl export: --prefer: {exc}", file=sys.stderr)
        return 2
    except OutputDirectoryError as exc:
        print(f"automtl export: {exc}; choose another --out, or pass --force to write into it",
              file=sys.stderr)
        return 2
    except (ExportError, ValueError) as exc:  # bad input: a user error, nothing written
        print(f"automtl export: {exc}", file=sys.stderr)
        return 2
    _print_result(source, result)
    return 0


def _over_rest(args: argparse.Namespace) -> bool:
    """Whether ``export JOB`` asks a server (``--url``/``--token``, or ``AUTOMTL_URL`` /
    ``AUTOMTL_TOKEN`` set without a database named) rather than reading a database."""
    if args.url or args.token:
        return True
    named_db = args.db or os.environ.get(URL_ENV)
    return not named_db and bool(os.environ.get("AUTOMTL_URL") or
                                 os.environ.get("AUTOMTL_TOKEN"))


def _export_over_rest(args: argparse.Namespace) -> int:
    """``GET /jobs/JOB/export`` (``trial`` / ``prefer`` as given), unpacked into ``--out``
    (new or empty unless ``--force``), as ``automtl export`` writes it from a database."""
    import io
    import zipfile

    from automtl_api.client import ApiClient, ApiClientError
    from automtl_api.commands import _fail

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not args.force)):
        print(f"automtl export: {out} is not an empty directory; choose another --out, or "
              "pass --force to write into it", file=sys.stderr)
        return 2
    try:
        with ApiClient(args.url, args.token) as client:
            response = client.export(args.job, trial=args.trial, prefer=args.prefer)
    except ApiClientError as exc:
        return _fail(exc)
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        tops = {n.split("/", 1)[0] for n in names}
        folder = tops.pop() + "/" if len(tops) == 1 and all("/" in n for n in names) else ""
        out.mkdir(parents=True, exist_ok=True)
        files = []
        for name in names:
            relative = Path(name.removeprefix(folder))
            if relative.is_absolute() or ".." in relative.parts:
                continue  # never outside --out
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
            files.append(str(relative))
    number = response.headers.get("X-Automtl-Trial", "?")
    resolved = response.headers.get("X-Automtl-Weights")  # every objective's, as applied
    weights = (f"weights {resolved.replace(',', ', ')}" if resolved else
               f"--prefer {args.prefer}" if args.prefer else "equal weights")
    how = f"trial {args.trial}" if args.trial is not None else \
        f"front trial {number}, chosen by the server ({weights})"
    print(f"exported {how} of job {args.job} from {client.url}")
    print(f"wrote {out}: {', '.join(sorted(files))}")
    return 0


def database_url(explicit: str | None) -> str:
    """``--db``, else ``AUTOMTL_DATABASE_URL``, else the service's default (its settings)."""
    import os

    if explicit or os.environ.get(URL_ENV):
        from automtl_storage import normalize_url

        return normalize_url(explicit or os.environ[URL_ENV])
    from pydantic import ValidationError

    from automtl.commands.console import UserError
    from automtl_api.settings import Settings, settings_errors

    try:
        return Settings().resolved_database_url
    except ValidationError as exc:  # named by the AUTOMTL_* variable the user set
        name, message = settings_errors(exc)[0]
        raise UserError(message, field=name or "settings") from None


def _export_job(args: argparse.Namespace,
                prefer: dict[str, float]) -> tuple[ExportSource, ExportResult]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from automtl.export import ExportError, export_trial, job_source
    from automtl_storage import Database, ExportRepository, JobRepository, TrialRepository

    url = database_url(args.db)
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite" and not Path(str(parsed.database)).is_file():
        raise ExportError(f"no database at {shown}: pass --db URL (or set {URL_ENV}), or "
                          "--search-dir for a local search")
    database = Database(url)
    try:
        with database.session() as session:
            job = JobRepository(session).get(args.job)
            if job is None:
                raise ExportError(f"job {args.job} not found in {shown}")
            source = job_source(job.id, job.name, job.spec,
                                TrialRepository(session).list_for_job(job.id),
                                study_name=job.study_name,
                                artifact_root=_artifact_root(args.artifact_dir),
                                status=job.status.value)
        result = export_trial(source, args.out, trial=args.trial, prefer=prefer,
                              overwrite=args.force)
        with database.session() as session:
            assert result.record.row_id is not None
            ExportRepository(session).create(job.id, result.record.row_id,
                                             str(result.directory.resolve()))
    except SQLAlchemyError as exc:
        raise ExportError(f"cannot read {shown}: {exc.__class__.__name__}: {exc} (is it an "
                          "automtl database? 'automtl db upgrade' creates the tables)") from None
    finally:
        database.dispose()
    return source, result


def _print_result(source: ExportSource, result: ExportResult) -> None:
    record = result.record
    if result.choice is not None:
        choice = result.choice
        print(f"chose trial {choice.number} of {source.label} from its "
              f"{len(choice.front)}-trial front:")
        print(f"  weights: {choice.weights_text()}")
        print(f"  {choice.reason}")
        for scored in choice.front:
            values = "  ".join(f"{k}={v:.4g}" for k, v in scored.values.items())
            mark = "*" if scored.number == choice.number else " "
            print(f"  {mark} trial {scored.number:>4}  score {scored.score:.4f}  {values}")
    else:
        print(f"exporting trial {record.number} of {source.label}")
    print(f"wrote {result.directory}: {', '.join(result.files)}")
