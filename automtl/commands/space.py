"""``automtl space``: list, show and validate search spaces, print the DSL's JSON Schema."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from search_spaces import SearchSpace


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("space", help="list, show and validate search spaces",
                                   description=__doc__)
    actions = parser.add_subparsers(dest="space_command", metavar="ACTION")
    actions.required = True

    listing = actions.add_parser("list", help="the built-in presets with their descriptions")
    listing.set_defaults(handler=_list)

    show = actions.add_parser("show", help="topologies, parameters and size of a space")
    show.add_argument("space", help="a preset name or a YAML/JSON file")
    show.add_argument("--all", action="store_true", help="list fixed parameters too")
    show.add_argument("--json", action="store_true", help="print the summary as JSON")
    show.set_defaults(handler=_show)

    validate = actions.add_parser("validate", help="check a search-space file; exit 2 on errors")
    validate.add_argument("space", help="a YAML/JSON file (or a preset name)")
    validate.add_argument("--tasks", help="comma-separated task names to check fixed weights "
                                          "against")
    validate.set_defaults(handler=_validate)

    schema = actions.add_parser("schema", help="print the JSON Schema of the DSL")
    schema.set_defaults(handler=_schema)


def _list(args: argparse.Namespace) -> int:
    import search_spaces

    for name in search_spaces.presets():
        print(f"{name:<12} {search_spaces.load_preset(name).description}")
    return 0


def _load(source: str) -> SearchSpace | None:
    import search_spaces

    try:
        return search_spaces.load(source)
    except search_spaces.SearchSpaceError as exc:
        _print_errors(source, exc.errors)
        return None


def _print_errors(source: str, errors: list[tuple[str, str]]) -> None:
    print(f"{source}: {len(errors)} error(s)", file=sys.stderr)
    for path, message in errors:
        print(f"  {path}: {message}" if path else f"  {message}", file=sys.stderr)


def _show(args: argparse.Namespace) -> int:
    space = _load(args.space)
    if space is None:
        return 2  # a user error (automtl.commands.console.EXIT_USER_ERROR)
    if args.json:
        print(json.dumps(space.summary().to_dict(), indent=2))
    else:
        print(space.describe(show_fixed=args.all))
    return 0


def _validate(args: argparse.Namespace) -> int:
    import search_spaces

    space = _load(args.space)
    if space is None:
        return 2  # a user error (automtl.commands.console.EXIT_USER_ERROR)
    if args.tasks:
        try:
            space.check_tasks([t.strip() for t in args.tasks.split(",") if t.strip()])
        except search_spaces.SearchSpaceError as exc:
            _print_errors(args.space, exc.errors)
            return 2
    summary = space.summary()
    combinations = _plural(summary.discrete_combinations, "discrete combination",
                           "discrete combinations")
    continuous = _plural(summary.max_continuous, "continuous dimension",
                         "continuous dimensions")
    print(f"{args.space}: valid ({_plural(len(space.topologies), 'topology', 'topologies')}, "
          f"{_plural(len(space.weightings), 'weighting', 'weightings')}, "
          f"{combinations} x up to {continuous})")
    fixed = fixed_weight_tasks(space)
    if fixed and not args.tasks:
        print(f"  note: the fixed weights name the tasks {fixed}, which were not checked: "
              "pass --tasks NAME,NAME to check them against a job's tasks (a job checks them "
              "when it starts)")
    for warning in space.job_field_warnings():  # as POST /search-spaces/validate's warnings
        print(f"  warning: {warning}")
    return 0


def fixed_weight_tasks(space: SearchSpace) -> list[str]:
    """The task names the space's ``fixed`` weighting names (empty without one)."""
    from search_spaces.space import fixed_weight_tasks as tasks_of

    return tasks_of(space)


def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def _schema(args: argparse.Namespace) -> int:
    import search_spaces

    print(json.dumps(search_spaces.json_schema(), indent=2))
    return 0
