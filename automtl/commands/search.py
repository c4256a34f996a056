"""``automtl search SPEC.yaml``: a whole search locally, no server.

Prints one progress line per finished trial, then the Pareto front as a table, and writes
``front.json`` (the shape of ``GET /jobs/{id}/pareto``), ``front.csv`` and ``trials.csv`` into
``--out``. Running it again with the same spec and ``--db`` resumes the study.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from automtl.search import SearchCallbacks


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
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from automtl.jobspec import JobSpecError, load_job_spec
    from automtl.report.pareto import front_rows, trial_rows
    from automtl.search import run_search
    from automtl.search.study import open_storage

    try:
        spec = load_job_spec(args.spec)
    except JobSpecError as exc:
        print(f"invalid job spec {args.spec}:", file=sys.stderr)
        for path, message in exc.errors:
            print(f"  {path or '<root>'}: {message}", file=sys.stderr)
        return 2
    from automtl.data import DataError
    from automtl.search.study import SpecChangedError

    out = Path(args.out)
    printer = cast("SearchCallbacks", _ProgressPrinter(spec.objectives))  # duck-typed
    try:
        result = run_search(spec, printer, storage_url=args.db, artifact_dir=out,
                            ray_address=args.ray_address, num_cpus=args.num_cpus)
    except DataError as exc:
        where = f" ({exc.field})" if exc.field else ""
        print(f"the data of {args.spec} cannot be searched{where}: {exc}", file=sys.stderr)
        return 2
    except SpecChangedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import optuna

    study = optuna.load_study(study_name=result.study_name,
                              storage=open_storage(result.storage_url))
    rows = front_rows(result.front)
    (out / "front.json").write_text(json.dumps(result.front, indent=2))
    _write_csv(out / "front.csv", rows)
    _write_csv(out / "trials.csv", trial_rows(study, spec))
    print()
    print(f"study {result.study_name}: {result.complete} complete, {result.failed} failed, "
          f"stopped by {result.stop_reason}, wall time {result.wall_time_s:.1f}s")
    if result.constraints:
        print(result.constraints)
    slots = result.wall_time_s * spec.budget.concurrency
    if slots > 0 and result.train_time_s > 0:
        print(f"training loops took {result.train_time_s:.1f}s summed over this run's trials: "
              f"{1 - result.train_time_s / slots:.0%} of wall time x concurrency "
              f"({spec.budget.concurrency}) went to everything else (startup, evaluation, "
              "orchestration)")
    print(f"Pareto front ({len(rows)} trials, hypervolume {result.front['hypervolume']:.6g}, "
          f"reference {result.front['reference_point']}):")
    columns = ["trial", "topology", "weighting", *spec.objectives]
    print(format_table([{c: r.get(c) for c in columns} for r in rows], columns))
    topology_rows = topology_table_rows(result.topologies or {}, spec.objectives)
    (out / "topologies.json").write_text(json.dumps(result.topologies or {}, indent=2))
    print(f"\nper topology ({result.coverage_trials} coverage startup trials this run; best "
          "validation value per objective, trial number in brackets):")
    print(format_table(topology_rows, ["topology", "trials", "complete", "pruned", "failed",
                                       *spec.objectives]))
    print(f"\nwrote {out / 'front.json'}, {out / 'front.csv'}, {out / 'trials.csv'}, "
          f"{out / 'topologies.json'}")
    return 0


class _ProgressPrinter:
    """A :class:`~automtl.search.SearchCallbacks` (duck-typed, so ``--help`` needs no Ray) that
    prints a line per finished trial with the count / budget, failures and front size."""

    def __init__(self, objectives: list[str]) -> None:
        self._objectives = objectives
        self._pending: str | None = None

    def on_dataset(self, summary: dict[str, Any]) -> None:
        print(format_dataset_summary(summary), flush=True)

    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        pass

    def on_epoch(self, number: int, epoch: int, metrics: dict[str, float]) -> None:
        pass

    def on_trial_complete(self, outcome: Any) -> None:
        if outcome.values:
            detail = " ".join(f"{k}={v:.4g}" for k, v in outcome.values.items())
        else:
            detail = (outcome.error or "").splitlines()[0][:60] if outcome.error else ""
        self._pending = f"trial {outcome.number:>4} {outcome.state:<8} {detail}"

    def on_progress(self, progress: Any) -> None:
        if self._pending is None:
            return
        print(f"[{progress.finished:>3}/{progress.budget}] {self._pending:<60} | failed "
              f"{progress.failed}, running {progress.running}, front {progress.front_size}, "
              f"{progress.elapsed_s:.0f}s", flush=True)
        self._pending = None

    def should_stop(self) -> bool:
        return False


def format_dataset_summary(summary: dict[str, Any]) -> str:
    """The detected schema (one line per feature: kind and why) and labelled rows per task."""
    lines = ["features (kind: why):"]
    for feature in summary["features"]:
        extra = ""
        if "vocabulary" in feature:
            extra += f", vocabulary {feature['vocabulary']}"
        if "missing_indicator" in feature:
            extra += f", missing -> train mean + {feature['missing_indicator']}"
        lines.append(f"  {feature['name']}: {feature['kind']} ({feature['reason']}{extra})")
    sizes = ", ".join(f"{k} {v}" for k, v in summary["splits"].items())
    strat = summary.get("stratified_on")
    lines.append(f"splits: {sizes}" + (f" (stratified on {strat})" if strat else ""))
    for row in summary["tasks"]:
        positives = f", {row['positives']} positive" if "positives" in row else ""
        lines.append(f"  task {row['task']} {row['split']}: {row['labelled']} labelled"
                     f"{positives}")
    return "\n".join(lines)


def topology_table_rows(topologies: dict[str, Any],
                        objectives: list[str]) -> list[dict[str, Any]]:
    """Rows of the per-topology table: counts, then ``best (trial n)`` per objective."""
    rows = []
    for topology, summary in topologies.items():
        row: dict[str, Any] = {"topology": topology,
                               **{k: summary[k] for k in ("trials", "complete", "pruned",
                                                          "failed")}}
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
