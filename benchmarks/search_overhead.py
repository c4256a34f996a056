"""Search overhead: where the time of a real search goes besides training.

A whole ``automtl.search.run_search`` (Ray Tune + OptunaSearch, the Optuna study in SQLite,
weights saved per trial) of ``--trials`` trials on ``--cpus`` CPUs, ``--concurrency`` trials at
a time, on the synthetic data with the compact benchmark space. From the study's per-trial
records it splits the worker time (wall time x concurrency) into training (``Trainer.fit``:
epochs and their validation), the rest of each trial (model building, latency measurement,
saving weights) and everything outside the trials (Ray scheduling and result passing, Optuna's
sampler and storage writes in SQL, dataset loading, idle slots while the last trials finish).
Ray's start-up is timed separately.

    python -m benchmarks.search_overhead
    python -m benchmarks.search_overhead --quick
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from automtl.search import run_search
from automtl.trial_record import ATTR_TRAIN_TIME, ATTR_TRIAL_TIME
from benchmarks.common import base_parser, machine_line, setup_threads, write_table
from benchmarks.search_setup import job_spec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs given to Ray")
    parser.add_argument("--concurrency", type=int, default=2, help="trials at a time")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--sampler", default="tpe")
    parser.add_argument("--storage", default=None,
                        help="Optuna RDB URL (default: a SQLite file in a temporary directory)")
    # trials set their own threads (resources.cpus_per_trial: 1); the driver matches them
    parser.set_defaults(threads=1)
    args = parser.parse_args(argv)
    if args.device != "cpu":
        parser.error("--device: the search benchmarks run trials on the CPU")
    if args.quick:
        args.trials, args.rows, args.epochs = min(args.trials, 4), min(args.rows, 2000), 1
    return args


def start_ray(cpus: int) -> float:
    """Start a local Ray with ``cpus`` CPUs; its start-up seconds."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    started = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    return time.perf_counter() - started


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Run the search in ``workdir``; the raw figures of the breakdown."""
    import ray

    spec = job_spec("bench-overhead", trials=args.trials, rows=args.rows,
                    features=args.features, correlation=0.5, epochs=args.epochs,
                    sampler=args.sampler, seed=args.seed, concurrency=args.concurrency)
    url = args.storage or f"sqlite:///{workdir / 'study.db'}"
    ray_start = start_ray(args.cpus)
    try:
        started = time.perf_counter()
        result = run_search(spec, storage_url=url, artifact_dir=workdir / "artifacts",
                            study_name=f"bench-overhead-{int(time.time())}")
        wall = time.perf_counter() - started
    finally:
        ray.shutdown()
    study = optuna.load_study(study_name=result.study_name, storage=url)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    missing = [t.number for t in complete
               if ATTR_TRAIN_TIME not in t.user_attrs or ATTR_TRIAL_TIME not in t.user_attrs]
    if missing:
        raise RuntimeError(f"trials {missing} have no recorded train/trial time")
    return {
        "ray_start": ray_start, "wall": wall, "complete": len(complete),
        "failed": result.failed,
        "train": sum(float(t.user_attrs[ATTR_TRAIN_TIME]) for t in complete),
        "trial": sum(float(t.user_attrs[ATTR_TRIAL_TIME]) for t in complete),
        "optuna_trial": sum((t.datetime_complete - t.datetime_start).total_seconds()
                            for t in complete if t.datetime_complete and t.datetime_start),
    }


def breakdown(raw: dict[str, Any], concurrency: int) -> list[dict[str, Any]]:
    """The component table: seconds of worker time, share, and seconds per trial."""
    trials = max(raw["complete"], 1)
    worker = raw["wall"] * concurrency
    parts = [
        ("training (Trainer.fit: epochs + their validation)", raw["train"]),
        ("rest of each trial (build model, latency, save weights)", raw["trial"] - raw["train"]),
        ("outside trials (Ray, Optuna sampler, SQL storage, data load, idle slots)",
         worker - raw["trial"]),
    ]
    rows = [{"component": name, "worker_s": round(seconds, 2),
             "share": round(seconds / worker, 3), "per_trial_s": round(seconds / trials, 3)}
            for name, seconds in parts]
    rows.append({"component": f"total worker time (wall x {concurrency} concurrent)",
                 "worker_s": round(worker, 2), "share": 1.0,
                 "per_trial_s": round(worker / trials, 3)})
    return rows


def summary(raw: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """One line: wall time, summed training, share outside training, per-trial overhead."""
    trials = max(raw["complete"], 1)
    worker = raw["wall"] * args.concurrency
    return {
        "trials complete": raw["complete"], "failed": raw["failed"],
        "cpus": args.cpus, "concurrency": args.concurrency,
        "ray start s": round(raw["ray_start"], 2),
        "search wall s": round(raw["wall"], 2),
        "sum training s": round(raw["train"], 2),
        "share outside training": round(1 - raw["train"] / worker, 3),
        "overhead per trial s": round((worker - raw["train"]) / trials, 3),
        "mean training per trial s": round(raw["train"] / trials, 3),
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    setup_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="automtl-bench-") as tmp:
        raw = measure(args, Path(tmp))
    machine = machine_line("cpu")
    notes = [f"{args.trials} trials requested, sampler {args.sampler}; synthetic data "
             f"{args.rows} rows x {args.features} features (correlation 0.5), 2 binary tasks, "
             f"{args.epochs} epoch(s) per trial; compact space (single_task, shared_bottom, "
             "mmoe, ple; small sizes; searched dropout, lr and batch size); 1 CPU per trial.",
             "worker time = search wall time x concurrency; share outside training = "
             "1 - summed training / worker time; overhead per trial = (worker time - summed "
             "training) / complete trials.",
             "Optuna study in "
             + ("SQLite (a temporary file)" if args.storage is None else "the given storage")
             + f"; the optuna-side trial durations (ask to tell) sum to "
             f"{raw['optuna_trial']:.1f} s."]
    rows = [summary(raw, args)]
    write_table(rows, args.out, "search_overhead", "Search overhead: a real Ray Tune + Optuna "
                "search", machine, notes)
    write_table(breakdown(raw, args.concurrency), args.out, "search_overhead_breakdown",
                "Search overhead: where the worker time goes", machine, notes[:1])
    return rows


if __name__ == "__main__":
    main()
