"""The ``automtl`` command.

Each subcommand lives in its own module exposing ``register(subparsers)``; heavy imports happen
inside the handlers so ``automtl --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: modules that each add subcommands with ``register(subparsers)``
COMMAND_MODULES: list[str] = [
    "automtl.commands.space",
    "automtl.commands.search",
    "automtl.commands.export",
    "automtl_storage.commands",
    "automtl_api.commands",
    "automtl.commands.demo",
]


def build_parser() -> argparse.ArgumentParser:
    from automtl.commands.console import apply_help_format

    parser = argparse.ArgumentParser(
        prog="automtl",
        description="AutoML search for multi-task learning architectures.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
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
