"""``automtl db``: apply the database migrations and show the schema revision.

The URL comes from ``--db`` (the database flag of every service command; ``--url``, its older
name here, still works) or the ``AUTOMTL_DATABASE_URL`` environment variable.
"""

from __future__ import annotations

import argparse
import os
import sys

URL_ENV = "AUTOMTL_DATABASE_URL"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("db", help="database migrations", description=__doc__)
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION")
    actions.required = True

    upgrade = actions.add_parser("upgrade", help="migrate the automtl tables to the newest "
                                                 "revision (Optuna's tables are left alone)")
    _add_db(upgrade)
    upgrade.add_argument("--revision", default="head", help="target revision (default: head)")
    upgrade.set_defaults(handler=_upgrade)

    current = actions.add_parser("current", help="print the database's revision and the newest")
    _add_db(current)
    current.set_defaults(handler=_current)


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", "--url", dest="url", metavar="URL",
                        help=f"database URL (default: ${URL_ENV}); --url is an older name")


def _url(args: argparse.Namespace) -> str | None:
    url = args.url or os.environ.get(URL_ENV)
    if not url:
        print(f"no database URL: pass --db or set {URL_ENV}", file=sys.stderr)
    return url


def _display(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _upgrade(args: argparse.Namespace) -> int:
    from automtl_storage import migrate

    url = _url(args)
    if url is None:
        return 2
    try:
        before = migrate.current_revision(url)
        migrate.upgrade(url, args.revision)
        after = migrate.current_revision(url)
    except Exception as exc:  # a CLI reports the failure in one line, not a traceback
        print(f"{_display(url)}: upgrade failed: {exc}", file=sys.stderr)
        return 1
    change = "already at" if before == after else f"{before or '<empty>'} ->"
    print(f"{_display(url)}: {change} {after}")
    return 0


def _current(args: argparse.Namespace) -> int:
    from automtl_storage import migrate

    url = _url(args)
    if url is None:
        return 2
    try:
        current = migrate.current_revision(url)
    except Exception as exc:
        print(f"{_display(url)}: cannot read the revision: {exc}", file=sys.stderr)
        return 1
    head = migrate.head_revision()
    state = "up to date" if current == head else "needs `automtl db upgrade`"
    print(f"{_display(url)}: current {current or '<none>'}, head {head} ({state})")
    return 0
