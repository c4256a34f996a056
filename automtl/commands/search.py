"""``automtl search SPEC.yaml``: a whole search locally, no server.

Shows a progress bar over the trial budget with its ETA (one line per finished trial with its
topology, main parameters and objectives above it), then the Pareto front as a table, and
writes ``front.json`` (the shape of ``GET /jobs/{id}/pareto``), ``front.csv``, ``trials.csv``
(every trial with its searched parameters), ``gains.csv`` (a confirmed search's MTL gain per
front point and task, also printed) and ``report.html`` (the service's report page) into
``--out``. Running it again with the same spec and ``--db`` resumes the study. Bad input
(spec, search space, dataset) ends it with one line naming the field or column, exit status 2,
before anything is written.

Ctrl-C (or SIGTERM) stops the search as a service cancel does: the running trials end at their
next batch and are stored as interrupted (not failures; a rerun retries them, and says so when
it starts), the finished ones and the front are written as above, and the command exits with
128 + the signal (130, 143). A second Ctrl-C stops at once.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from automtl.search import SearchCallbacks
    from search_spaces import SearchSpace


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "search", help="run a whole search locally (Ray + Optuna) and print its Pareto front",
        description=__doc__)
    parser.add_argument("spec", help="job spec (YAML or JSON)")
    parser.add_argument("--db", default=None,
                        help="Optuna storage URL (default: sqlite:///OUT/automtl.db)")
    parser.add_argument("--out", default="automtl-runs",
                        help="output directory: artifacts, front.json/csv, trials.csv")
    parser.add_argument("--ray-address", default=None,
                        help="connect to this Ray cluster instead of starting a local one")
    parser.add_argument("--num-cpus", type=int, default=None,
                        help="CPUs of the local Ray (default: all of this machine's)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (one line per finished trial still printed)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from automtl.jobspec import load_job_spec

    # validated before the heavy imports (torch, Ray): a bad spec fails in well under a second
    spec = load_job_spec(args.spec)  # a JobSpecError ends the command with exit 2
    from automtl.commands.folder_lock import lock_output_folder

    with lock_output_folder(args.out):  # a second search on the same --out: exit 2 at once
        return _search(args, spec)


def _search(args: argparse.Namespace, spec: Any) -> int:
    from automtl.commands.console import SearchProgress, StopRequest, UserError
    from automtl.data import DataError
    from automtl.jobspec import data_error_path
    from automtl.report.html import report_from_study
    from automtl.report.pareto import (
        below_chance_warnings,
        front_csv,
        front_rows,
        gains_csv,
        reference_point_text,
        trial_rows,
        zero_hypervolume_note,
    )
    from automtl.search import run_search
    from automtl.search.runner import stop_reason_text
    from automtl.search.study import open_storage
    from automtl.trial_record import empty_front_text

    out = Path(args.out)
    before, under_table = left_out_notes(spec.space)  # a preset's topologies the job cannot use
    stop = StopRequest()
    progress = SearchProgress(list(spec.objectives), spec.budget.trials,
                              disable=True if args.no_progress else None, notes=before,
                              stop=stop)
    try:
        stop.install()
        result = run_search(spec, cast("SearchCallbacks", progress),  # duck-typed callbacks
                            storage_url=args.db, artifact_dir=out,
                            ray_address=args.ray_address, num_cpus=args.num_cpus)
    except DataError as exc:  # named by its spec path, as over REST (tasks[1].type)
        raise UserError(str(exc), field=data_error_path(spec, exc)) from exc
    finally:  # a SpecChangedError (a changed spec for an existing study) ends with exit 2
        stop.restore()
        progress.close()

    import optuna

    study = optuna.load_study(study_name=result.study_name,
                              storage=open_storage(result.storage_url))
    rows = front_rows(result.front)
    (out / "front.json").write_text(json.dumps(result.front, indent=2))
    (out / "front.csv").write_text(front_csv(result.front))
    _write_csv(out / "trials.csv", trial_rows(study, spec))
    (out / "report.html").write_text(report_from_study(study, spec, front=result.front))
    print()
    # the searcher's count is the budget's (complete + pruned): name them apart from the study
    states = [t.state for t in study.get_trials(deepcopy=False)]
    pruned = states.count(optuna.trial.TrialState.PRUNED)
    complete = states.count(optuna.trial.TrialState.COMPLETE)
    stopped = f", {result.interrupted} interrupted" if result.interrupted else ""
    print(f"study {result.study_name}: {complete} complete, {pruned} pruned, {result.failed} "
          f"failed{stopped}; stopped because {stop_reason_text(result.stop_reason)}; wall "
          f"time {result.wall_time_s:.1f}s")
    if result.interrupted or result.stop_reason in ("cancelled", "time_limit"):
        print(f"to resume: run the same command again (same spec, --out {out}): it keeps the "
              "finished trials, retries the interrupted ones and runs the rest of the budget")
    if result.constraints:
        print(result.constraints)
    slots = result.wall_time_s * spec.budget.concurrency
    if slots > 0 and result.train_time_s > 0:
        print(f"training loops took {result.train_time_s:.1f}s summed over this run's trials: "
              f"{1 - result.train_time_s / slots:.0%} of wall time x concurrency "
              f"({spec.budget.concurrency}) went to everything else (startup, evaluation, "
              "orchestration)")
    volume = result.front["hypervolume"]
    print(f"Pareto front ({len(rows)} trial{'' if len(rows) == 1 else 's'}, hypervolume "
          f"{'-' if volume is None else format(volume, '.6g')}, "
          f"reference {reference_point_text(result.front['reference_point'])}):")
    print(format_table(front_table_rows(result.front), FRONT_COLUMNS + list(spec.objectives)))
    zero = zero_hypervolume_note(result.front)
    if zero:
        print(zero)
    for warning in below_chance_warnings(result.front):  # (the data's were printed above)
        print(f"warning: {warning}")
    if not rows and (pruned or result.failed):
        print(f"warning: {empty_front_text(pruned, result.failed)}")
    topology_rows = topology_table_rows(result.topologies or {}, spec.objectives)
    (out / "topologies.json").write_text(json.dumps(result.topologies or {}, indent=2))
    print(f"\nper topology ({result.coverage_trials} coverage startup trials this run; best "
          "validation value per objective, trial number in brackets):")
    print(format_table(topology_rows, ["topology", *TOPOLOGY_COUNTS, *spec.objectives]))
    for line in under_table:
        print(line)
    written = [out / "front.json", out / "front.csv", out / "trials.csv", out / "topologies.json"]
    if result.front.get("mtl_gain") is not None:
        (out / "gains.csv").write_text(gains_csv(result.front))
        written.append(out / "gains.csv")
        print()
        print(gain_summary(result.front["mtl_gain"]))
    print(f"\nwrote {', '.join(str(p) for p in [*written, out / 'report.html'])}")
    if stop.signum is not None:  # stopped by Ctrl-C / SIGTERM: 128 + the signal, as shells say
        return 128 + stop.signum
    return 0


#: the preset every job gets unless its spec names another; its topologies that need a job field
#: (aitm: ``sequence``) are extras for the jobs that have the field, so a job without it
#: searching without them is the expected case, not news
EVERYDAY_PRESET = "default"


def left_out_notes(space: SearchSpace) -> tuple[list[str], list[str]]:
    """What ``automtl search`` says about topologies the preset left out of this job (they
    need a job field it lacks, :meth:`search_spaces.SearchSpace.for_job`), as ``(lines
    printed once the data loaded, lines printed under the per-topology table)``.

    A preset chosen for its topologies (``multi_domain`` for star) that loses one is worth
    the full line before the first trial (:meth:`~search_spaces.SearchSpace.left_out_note`):
    the job probably forgot the field. The everyday preset (:data:`EVERYDAY_PRESET`) leaving
    out aitm for a job without a ``sequence`` is the normal case: one short line under the
    per-topology table instead, where the user would look for the missing row. Nothing when
    nothing was left out."""
    note = space.left_out_note()
    if note is None:
        return [], []
    if space.name != EVERYDAY_PRESET:
        return [note], []
    return [], [f"(not searched: {space.left_out_reasons()})"]


#: the front table's columns before the objectives: what a user compares first
FRONT_COLUMNS = ["trial", "topology", "experts", "layer widths", "weighting", "optimiser",
                 "params"]


def front_table_rows(front: dict[str, Any]) -> list[dict[str, Any]]:
    """The front's trials with their main parameters (architecture summary) and objectives."""
    from automtl.report.html import architecture_summary

    rows = []
    for entry in front["trials"]:
        arch = architecture_summary(entry.get("candidate"))
        row: dict[str, Any] = {"trial": entry["number"], "topology": arch["topology"],
                               "experts": arch["experts"], "layer widths": arch["units"],
                               "weighting": arch["weighting"], "optimiser": arch["optimiser"],
                               "params": entry.get("num_params")}
        row.update(entry["values"])
        rows.append(row)
    return rows


def gain_summary(mtl_gain: dict[str, Any]) -> str:
    """The confirmed MTL-gain table of the end-of-search summary (``front["mtl_gain"]``,
    :func:`automtl.report.pareto.confirmed_gains`): its heading, then one row per front point
    and task under the :data:`~automtl.report.pareto.GAIN_FIELDS` names (``within_noise`` is
    in the verdict), or why there is no single-task baseline."""
    from automtl.report.pareto import GAIN_FIELDS

    level = mtl_gain.get("confidence")
    head = (f"MTL gain over single-task (confirmed with {mtl_gain.get('seeds')} seeds on the "
            f"{mtl_gain.get('split')} split; gain = mean paired difference, positive = "
            f"sharing helps; ci_low..ci_high its {level:.0%} interval; baseline_std the "
            "single-task model's seed noise):" if level is not None else
            f"MTL gain over single-task (confirmed with {mtl_gain.get('seeds')} seeds):")
    if mtl_gain.get("baseline_trial") is None:
        return (f"{head}\nno single-task baseline: "
                f"{mtl_gain.get('baseline_missing') or 'no single_task trial was confirmed'}")
    columns = [f for f in GAIN_FIELDS if f != "within_noise"]
    return (f"{head} baseline trial {mtl_gain['baseline_trial']}\n"
            + format_table(list(mtl_gain.get("gains") or []), columns))


#: the per-topology table's counts (:func:`automtl.search.coverage.topology_summary`)
TOPOLOGY_COUNTS: tuple[str, ...] = ("trials", "complete", "pruned", "failed", "interrupted")


def topology_table_rows(topologies: dict[str, Any],
                        objectives: list[str]) -> list[dict[str, Any]]:
    """Rows of the per-topology table: counts, then ``best (trial n)`` per objective."""
    rows = []
    for topology, summary in topologies.items():
        row: dict[str, Any] = {"topology": topology,
                               **{k: summary.get(k, 0) for k in TOPOLOGY_COUNTS}}
        for name in objectives:
            best = summary["best"].get(name)
            row[name] = f"{best['value']:.4g} (#{best['trial']})" if best else None
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain fixed-width text table (floats with 4 significant digits)."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else str(value)

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
