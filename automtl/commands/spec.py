"""``automtl spec validate SPEC.yaml``: check a job spec without running it.

Every error at once, each with its path (as ``automtl search`` and ``POST /jobs`` report them),
exit 2; else a one-line summary of what the job would search. With ``--data`` the dataset is
loaded too and the checks a search runs before its first trial (label columns and values, split
sizes, both classes of a binary task in train and valid) report their errors and warnings.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("spec", help="check a job spec without running it",
                                   description=__doc__)
    actions = parser.add_subparsers(dest="spec_command", metavar="ACTION")
    actions.required = True
    validate = actions.add_parser("validate", help="check a job spec; exit 2 on errors",
                                  description=__doc__)
    validate.add_argument("spec", help="job spec (YAML or JSON)")
    validate.add_argument("--data", action="store_true",
                          help="also load the dataset and run the pre-trial data checks")
    validate.set_defaults(handler=_validate)


def _validate(args: argparse.Namespace) -> int:
    from automtl.commands.console import UserError
    from automtl.jobspec import data_error_path, load_job_spec

    spec = load_job_spec(args.spec)  # a JobSpecError ends the command with exit 2
    space = spec.space
    tasks = ", ".join(f"{t.name} ({t.type})" for t in spec.tasks)
    budget = spec.budget
    epochs = f" x {budget.epochs} epochs" if budget.epochs else ""
    summary = (f"job {spec.name!r}, tasks {tasks}; objectives "
               f"{list(spec.objectives)}; {len(space.topologies)} topolog"
               f"{'y' if len(space.topologies) == 1 else 'ies'}, {len(space.weightings)} "
               f"weighting{'' if len(space.weightings) == 1 else 's'}; budget {budget.trials} "
               f"trial{'' if budget.trials == 1 else 's'}{epochs}")
    note = space.left_out_note()
    if not args.data:
        print(f"{args.spec}: valid: {summary}")
        if note:
            print(f"  note: {note}")
        print("  (the data was not read: --data loads it and runs the checks a search runs "
              "before its first trial)")
        return 0
    from automtl.data import DataError
    from automtl.search.datasets import load_dataset

    # "valid" only once the data passed too: a data error after it read as a contradiction
    try:
        dataset = load_dataset(spec.dataset, spec.tasks, spec.seed, domains=spec.domains)
    except DataError as exc:  # named by its spec path, as over REST (tasks[1].type)
        raise UserError(str(exc), field=data_error_path(spec, exc)) from exc
    print(f"{args.spec}: valid, spec and data: {summary}")
    if note:
        print(f"  note: {note}")
    sizes = ", ".join(f"{name} {len(split)}" for name, split in dataset.splits.items())
    print(f"  data: {sizes} rows; {len(dataset.numeric_columns)} numeric and "
          f"{len(dataset.categorical_columns)} categorical features")
    for line in dataset.notes:
        print(f"  note: {line}")
    for warning in dataset.warnings:
        print(f"  warning: {warning}")
    return 0
