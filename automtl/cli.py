"""The ``automtl`` command.

Each subcommand lives in its own module exposing ``register(subparsers)``; heavy imports happen
inside the handlers so ``automtl --help`` stays fast.

The library registers its own commands (:data:`COMMAND_MODULES`: ``space``, ``search``,
``spec``) and discovers the rest as plugins: every entry point of the group
:data:`PLUGIN_GROUP` names a module with ``register(subparsers)``. The service declares its
commands there (``serve``, ``worker``, ``token``, ``db``, ``submit``, ``status``, ``report``,
``export``, ``demo``; see ``pyproject.toml``), so ``automtl`` stays one console command while
the library never imports the service (DESIGN.md; the import contract ``library-boundary``
in ``.importlinter``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: the library's own modules that each add subcommands with ``register(subparsers)``
COMMAND_MODULES: list[str] = [
    "automtl.commands.space",
    "automtl.commands.search",
    "automtl.commands.spec",
]
#: entry-point group whose entries name further command modules (the service's)
PLUGIN_GROUP = "automtl.commands"


def command_modules() -> list[str]:
    """The library's command modules, then each plugin's (entry points of
    :data:`PLUGIN_GROUP`, in the order the installed metadata lists them: by name)."""
    from importlib.metadata import entry_points

    plugins = [entry.value for entry in entry_points(group=PLUGIN_GROUP)]
    return COMMAND_MODULES + [name for name in plugins if name not in COMMAND_MODULES]


def build_parser() -> argparse.ArgumentParser:
    from automtl.commands.console import apply_help_format

    parser = argparse.ArgumentParser(
        prog="automtl",
        description="AutoML search for multi-task learning architectures.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    modules = command_modules()
    for name in modules:
        importlib.import_module(name).register(subparsers)
    if modules == COMMAND_MODULES:  # an install older than the entry points
        parser.epilog = (f"The service's commands (serve, worker, demo, export, ...) were not "
                         f"found: no entry points of the group {PLUGIN_GROUP!r} are installed. "
                         "Reinstall automtl (bash scripts/bootstrap.sh, or pip install -e .).")
    apply_help_format(parser)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("automtl")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; bad input ends it with one line and exit 2 (see
    :mod:`automtl.commands.console`)."""
    from automtl.commands.console import run_command

    parser = build_parser()
    args = parser.parse_args(argv)
    return run_command(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
