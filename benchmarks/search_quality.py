"""Search quality: hypervolume of the front per sampler and budget, against hand-set baselines.

On the synthetic data with task correlation 0.5 (two binary tasks, objectives the two
validation AUCs), the hypervolume after 10, 20 and 40 trials for Optuna's TPE (multivariate,
grouped: automtl's default), NSGA-II and random sampling, over 3 seeds, all with the same fixed
reference point (AUC 0.5, 0.5: chance level, the rule of ``automtl.report.pareto``). The same
run trains the hand-configured baselines (single-task, shared-bottom, the MMoE paper's
configuration) with the same trainable and says which of them the fronts dominate.

The samplers run in-process through Optuna's ask/tell, not through Ray: the same trial
function (``automtl.search.trainable.run_trial``), the same compiled search space
(``search_spaces.load``), the same objective computation and the same samplers
(``automtl.search.samplers.make_sampler``), with tiny budgets (a few thousand rows, 1-2
epochs) so that 3 samplers x 3 seeds x 40 trials fit in minutes on 2 cores (one study per core).
``benchmarks.search_overhead`` measures what Ray, SQL and the service add around a trial.

    python -m benchmarks.search_quality
    python -m benchmarks.search_quality --quick
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import numpy as np

from benchmarks.common import (
    available_cores,
    base_parser,
    machine_line,
    setup_threads,
    write_table,
)
from benchmarks.search_setup import job_spec

SAMPLERS = ("tpe", "nsga2", "random")
REFERENCE = [0.5, 0.5]  # chance-level AUC for both tasks
DIRECTIONS = ["maximize", "maximize"]

#: hand-configured baselines; the MMoE paper's synthetic-data setup (Ma et al. KDD 2018,
#: section 3): 8 single-layer experts of 16 units, towers of 8, linear gates; its shared-bottom
#: baseline has one bottom layer of 113 units so that both have about the same size
BASELINES: dict[str, dict[str, Any]] = {
    "single-task (2 x MLP 64, towers 8)": {"topology": "single_task", "bottom_units": [64],
                                           "tower_units": [8]},
    "shared-bottom (113, towers 8)": {"topology": "shared_bottom", "bottom_units": [113],
                                      "tower_units": [8]},
    "MMoE paper (8 experts x 16, towers 8)": {"topology": "mmoe", "num_shared_experts": 8,
                                              "expert_units": [16], "tower_units": [8],
                                              "gate_kind": "linear"},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[10, 20, 40],
                        help="trial counts at which the hypervolume is read")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samplers", nargs="+", choices=SAMPLERS, default=list(SAMPLERS))
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--correlation", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--baseline-lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2],
                        help="learning rates tried for each baseline; the best on validation "
                             "is kept, as a user tuning by hand would")
    parser.add_argument("--baseline-batch", type=int, default=256)
    parser.add_argument("--workers", type=int, default=available_cores(),
                        help="studies run in parallel, one torch thread each (default: cores)")
    parser.set_defaults(threads=1)  # what every trial runs with (resources.cpus_per_trial: 1)
    args = parser.parse_args(argv)
    if args.device != "cpu":
        parser.error("--device: the search benchmarks run trials on the CPU")
    if args.quick:
        args.budgets, args.seeds, args.rows, args.epochs = [3, 6], 1, 1500, 1
        args.baseline_lrs = args.baseline_lrs[:2]
    args.budgets = sorted(set(args.budgets))
    return args


def _spec(args: dict[str, Any], sampler: str, seed: int) -> Any:
    from automtl.jobspec import load_job_spec

    return load_job_spec(job_spec(f"quality-{sampler}-{seed}", trials=max(args["budgets"]),
                                  rows=args["rows"], features=args["features"],
                                  correlation=args["correlation"], epochs=args["epochs"],
                                  sampler=sampler, seed=seed,
                                  cpus_per_trial=args["threads"]))


def _context(spec: Any, artifact_root: str) -> Any:
    from automtl.search.datasets import load_dataset
    from automtl.search.trainable import TrialContext

    data = load_dataset(spec.dataset, spec.tasks, spec.seed)
    return TrialContext(spec=spec, inputs=data.schema, train=data.train, valid=data.valid,
                        test=data.test, artifact_root=artifact_root)


def _values(spec: Any, result: dict[str, Any]) -> list[float]:
    return [float(result[o.result_key]) for o in spec.objective_list()]


def run_study(sampler: str, seed: int, args: dict[str, Any]) -> dict[str, Any]:
    """One study, trial by trial through ask/tell; every trial's number and values (None when
    it failed). Runs in a worker process."""
    import optuna

    import search_spaces
    from automtl.search.samplers import make_sampler
    from automtl.search.trainable import run_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = _spec(args, sampler, seed)
    space = search_spaces.load(spec.search_space)
    study = optuna.create_study(directions=[o.direction for o in spec.objective_list()],
                                sampler=make_sampler(sampler, seed, spec.budget.trials))
    trials: list[tuple[int, list[float] | None]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="automtl-bench-") as root:
        context = _context(spec, root)
        for _ in range(spec.budget.trials):
            trial = study.ask()
            try:
                values = _values(spec, run_trial(space.sample(trial), trial.number, context,
                                                 lambda result: None))
            except Exception:  # noqa: BLE001 - a failed trial, told as such (as the runner does)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                trials.append((trial.number, None))
                continue
            study.tell(trial, values)
            trials.append((trial.number, values))
    return {"sampler": sampler, "seed": seed, "trials": trials,
            "seconds": time.perf_counter() - started}


def run_baseline(name: str, seed: int, lr: float, args: dict[str, Any]) -> dict[str, Any]:
    """One hand-configured baseline at one learning rate, on the same split and with the same
    trial function as the seed's studies."""
    from automtl.search.trainable import run_trial

    spec = _spec(args, "tpe", seed)
    candidate = {"architecture": BASELINES[name], "weighting": {"name": "equal"},
                 "train": {"lr": lr, "batch_size": args["baseline_batch"],
                           "epochs": args["epochs"]}}
    with tempfile.TemporaryDirectory(prefix="automtl-bench-") as root:
        result = run_trial(candidate, 0, _context(spec, root), lambda r: None)
    return {"name": name, "seed": seed, "lr": lr, "values": _values(spec, result),
            "params": int(result["cost/params"])}


def best_lr(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (baseline, seed), the run whose learning rate gave the best mean validation AUC."""
    best: dict[tuple[str, int], dict[str, Any]] = {}
    for run in runs:
        key = (run["name"], run["seed"])
        if key not in best or sum(run["values"]) > sum(best[key]["values"]):
            best[key] = run
    return list(best.values())


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def hypervolume_of(points: list[list[float]]) -> float:
    from automtl.report.pareto import hypervolume

    if not points:
        return 0.0
    return hypervolume(np.asarray(points, dtype=float), DIRECTIONS, REFERENCE)


def front(points: list[list[float]]) -> list[list[float]]:
    """The non-dominated points (both objectives maximised)."""
    return [p for p in points if not any(dominates(q, p) for q in points)]


def dominates(a: list[float], b: list[float]) -> bool:
    return all(x >= y for x, y in zip(a, b, strict=True)) and \
        any(x > y for x, y in zip(a, b, strict=True))


def budget_points(study: dict[str, Any], budget: int) -> list[list[float]]:
    """Values of the complete trials among the first ``budget``."""
    return [values for number, values in study["trials"]
            if number < budget and values is not None and all(map(math.isfinite, values))]


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def quality_rows(studies: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for sampler in args.samplers:
        runs = sorted((s for s in studies if s["sampler"] == sampler), key=lambda s: s["seed"])
        for budget in args.budgets:
            volumes = [hypervolume_of(budget_points(s, budget)) for s in runs]
            mean, sd = _mean_sd(volumes)
            row: dict[str, Any] = {"sampler": sampler, "trials": budget,
                                   "HV mean": round(mean, 5), "HV sd": round(sd, 5)}
            for s, volume in zip(runs, volumes, strict=True):
                row[f"HV seed {s['seed']}"] = round(volume, 5)
            bests = [np.max(np.asarray(budget_points(s, budget)), axis=0) for s in runs
                     if budget_points(s, budget)]
            row["best AUC y1"] = round(float(np.mean([b[0] for b in bests])), 4)
            row["best AUC y2"] = round(float(np.mean([b[1] for b in bests])), 4)
            row["front size"] = round(statistics.fmean(
                len(front(budget_points(s, budget))) for s in runs), 1)
            rows.append(row)
    return rows


def baseline_rows(baselines: list[dict[str, Any]], studies: list[dict[str, Any]],
                  args: argparse.Namespace) -> list[dict[str, Any]]:
    last = max(args.budgets)
    rows = []
    for name in BASELINES:
        runs = [b for b in baselines if b["name"] == name]
        row: dict[str, Any] = {
            "baseline": name, "params": runs[0]["params"],
            "AUC y1": round(statistics.fmean(b["values"][0] for b in runs), 4),
            "AUC y2": round(statistics.fmean(b["values"][1] for b in runs), 4),
            "HV of the point": round(statistics.fmean(hypervolume_of([b["values"]])
                                                      for b in runs), 5),
            "chosen lr": " / ".join(f"{b['lr']:g}" for b in sorted(runs,
                                                                   key=lambda b: b["seed"]))}
        for sampler in args.samplers:
            beaten = 0
            for b in runs:
                study = next(s for s in studies
                             if s["sampler"] == sampler and s["seed"] == b["seed"])
                beaten += any(dominates(p, b["values"]) for p in budget_points(study, last))
            row[f"dominated by {sampler}@{last}"] = f"{beaten}/{len(runs)} seeds"
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    args = parse_args(argv)
    setup_threads(args.threads)
    shared = {k: getattr(args, k) for k in ("budgets", "rows", "features", "correlation",
                                            "epochs", "baseline_batch", "threads")}
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn"),
                             initializer=_worker_init, initargs=(args.threads,)) as pool:
        study_jobs = [pool.submit(run_study, sampler, seed, shared)
                      for seed in range(args.seed, args.seed + args.seeds)
                      for sampler in args.samplers]
        baseline_jobs = [pool.submit(run_baseline, name, seed, lr, shared)
                         for seed in range(args.seed, args.seed + args.seeds)
                         for name in BASELINES for lr in args.baseline_lrs]
        studies = [job.result() for job in study_jobs]
        baselines = best_lr([job.result() for job in baseline_jobs])
    wall = time.perf_counter() - started
    for study in studies:
        failed = sum(values is None for _, values in study["trials"])
        print(f"  {study['sampler']} seed {study['seed']}: {len(study['trials'])} trials "
              f"({failed} failed) in {study['seconds']:.0f} s", flush=True)
    machine = machine_line("cpu")
    notes = [f"synthetic data: {args.rows} rows (80% train, 20% valid) x {args.features} "
             f"features, correlation {args.correlation}, 2 binary tasks; objectives: "
             "validation AUC of each task; the job seed sets the split, so each seed's "
             "baselines use that seed's split.",
             f"every trial and baseline: {args.epochs} epoch(s); samplers: automtl's "
             "make_sampler (TPE multivariate+group, NSGA-II population max(4, trials/3), "
             "random), seeds " + ", ".join(str(s) for s in range(args.seed,
                                                                 args.seed + args.seeds)),
             f"hypervolume: Optuna's implementation via automtl.report.pareto, fixed "
             f"reference point {REFERENCE} for every sampler, seed and budget.",
             "in-process Optuna ask/tell with automtl's trial function, compiled space and "
             "objectives (no Ray, in-memory study); see search_overhead for Ray's share.",
             f"{args.workers} studies at a time, {args.threads} torch thread(s) each; wall time "
             f"{wall:.0f} s."]
    quality = quality_rows(studies, args)
    write_table(quality, args.out, "search_quality",
                "Search quality: hypervolume by sampler and trial budget", machine, notes)
    base = baseline_rows(baselines, studies, args)
    lrs = ", ".join(f"{lr:g}" for lr in args.baseline_lrs)
    base_notes = [f"baselines: equal weighting, Adam, batch {args.baseline_batch}, "
                  f"{args.epochs} epoch(s), trained with the same trial function on each "
                  f"seed's split at lr {lrs}; the lr with the best mean validation AUC is kept "
                  "(chosen lr, per seed); AUCs and HV are means over seeds.",
                  f"dominated: some trial among the first {max(args.budgets)} of that "
                  "sampler's study (same seed) is at least as good on both AUCs and better on "
                  "one.", notes[2]]
    write_table(base, args.out, "search_quality_baselines",
                "Search quality: the fronts against hand-configured baselines", machine,
                base_notes)
    return quality, base


if __name__ == "__main__":
    main()
