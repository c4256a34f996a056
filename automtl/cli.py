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
    parser = argparse.ArgumentParser(
        prog="automtl",
        description="AutoML search for multi-task learning architectures.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result = args.handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
