"""GPU path check: training rows/s on a CUDA card (fp32 vs bf16 autocast, data on the device)
and a short search with 1 vs 4 trials per card (``gpus_per_trial`` 1 vs 0.25).

One short script (a few minutes on a data-centre GPU) for a machine with CUDA:

1. ``gpu_throughput``: MMoE (8 experts x 64, towers 32) and PLE (2 levels of 2 shared + 2
   per-task experts) trained by ``Trainer.fit`` as a trial does (the whole split moved to the
   device once, batches gathered on the device), at batch 4096 and 16384, with ``amp`` off
   (fp32) and on (bf16 autocast). Rows/s = training rows / seconds of the fastest training
   epoch (validation excluded, the GPU synchronised before each clock read); the bf16/fp32
   ratio is measured in the same run.
2. ``gpu_trials_per_card``: the same ``--trials``-trial search (Ray Tune + Optuna, the compact
   benchmark space) with ``resources.gpus_per_trial`` 1 (one trial on the card at a time) and
   0.25 (four trials share the card); trials/hour = finished trials / wall seconds x 3600 and
   the ratio of the two.

On a machine without CUDA it prints why and exits 0 without measuring anything (CPU figures
live in ``peer_throughput`` and ``trial_options``).

    python -m benchmarks.gpu_check                 # on a CUDA machine, under 5 minutes
    python -m benchmarks.gpu_check --quick         # a smoke run (tiny data, 4 trials)
    python -m benchmarks.gpu_check --skip-search   # the throughput table only
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import (
    base_parser,
    machine_line,
    ratio,
    resolve_device,
    synthetic_dense,
    write_table,
)
from benchmarks.runs import ModelSizes, RunResult, train_automtl
from benchmarks.search_setup import job_spec

NO_CUDA_MESSAGE = ("gpu_check: CUDA is not available on this machine (torch {version}, "
                   "torch.cuda.is_available() is False); nothing measured. Run it on a machine "
                   "with an NVIDIA GPU and a CUDA build of torch.")

#: (gpus_per_trial, concurrency): one trial per card, then four sharing it
CARD_SHARES = ((1.0, 1), (0.25, 4))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000,
                        help="synthetic rows for the throughput table (default: %(default)s)")
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs per throughput run; the fastest counts (default: %(default)s)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--models", nargs="+", choices=("mmoe", "ple"), default=["mmoe", "ple"])
    parser.add_argument("--trials", type=int, default=16, help="trials per search")
    parser.add_argument("--search-rows", type=int, default=20_000)
    parser.add_argument("--search-epochs", type=int, default=3)
    parser.add_argument("--skip-search", action="store_true",
                        help="measure the throughput table only (no Ray)")
    parser.set_defaults(device="cuda")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.epochs = min(args.rows, 20_000), 2
        args.trials, args.search_rows, args.search_epochs = min(args.trials, 4), 2000, 1
    return args


def throughput_rows(data: Any, models: list[str], batch_sizes: list[int], epochs: int,
                    device: torch.device, seed: int) -> list[dict[str, Any]]:
    """One row per (model, batch): fp32 and bf16 rows/s, their ratio and the validation AUCs.

    Device-agnostic (on the CPU ``amp`` is a no-op, so both columns measure fp32)."""
    rows: list[dict[str, Any]] = []
    sizes = ModelSizes()
    for topology in models:
        for batch_size in batch_sizes:
            runs: dict[str, RunResult] = {}
            for label, amp in (("fp32", False), ("bf16", True)):
                runs[label] = train_automtl(data, topology, sizes, batch_size, epochs, 1e-3,
                                            device, seed, amp=amp)
            fp32, bf16 = runs["fp32"], runs["bf16"]
            rows.append({"model": topology, "batch": batch_size,
                         "fp32 rows/s": round(fp32.rows_per_second, 1),
                         "bf16 rows/s": round(bf16.rows_per_second, 1),
                         "bf16/fp32": round(ratio(bf16.rows_per_second,
                                                  fp32.rows_per_second), 2),
                         "AUC fp32": round(fp32.mean_auc, 4), "AUC bf16": round(bf16.mean_auc, 4)})
            print(f"  {topology} batch {batch_size}: fp32 {fp32.rows_per_second:,.0f} rows/s, "
                  f"bf16 {bf16.rows_per_second:,.0f} rows/s", flush=True)
    return rows


def search_spec(gpus_per_trial: float, concurrency: int, trials: int, rows: int, epochs: int,
                seed: int) -> dict[str, Any]:
    """The job spec of one card-sharing search: ``trials`` trials, ``concurrency`` at a time,
    each holding ``gpus_per_trial`` of the card and one CPU."""
    spec = job_spec(f"gpu-check-{gpus_per_trial:g}", trials=trials, rows=rows, features=100,
                    correlation=0.5, epochs=epochs, seed=seed, concurrency=concurrency)
    spec["resources"]["gpus_per_trial"] = gpus_per_trial
    return spec


def trials_per_card_rows(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    """Run the search once per entry of :data:`CARD_SHARES`; trials/hour of each."""
    import ray

    from automtl.search import run_search

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cpus = max(4, min(os.cpu_count() or 4, 16))
    rows: list[dict[str, Any]] = []
    ray.init(num_cpus=cpus, num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        for gpus, concurrency in CARD_SHARES:
            spec = search_spec(gpus, concurrency, args.trials, args.search_rows,
                               args.search_epochs, args.seed)
            started = time.perf_counter()
            result = run_search(spec, storage_url=f"sqlite:///{workdir / f'study-{gpus:g}.db'}",
                                artifact_dir=workdir / f"artifacts-{gpus:g}",
                                study_name=f"gpu-check-{gpus:g}-{int(time.time())}")
            wall = time.perf_counter() - started
            finished = result.complete
            rows.append({"gpus_per_trial": gpus, "trials at a time": concurrency,
                         "trials": finished, "failed": result.failed, "wall_s": round(wall, 1),
                         "trials/hour": round(finished / wall * 3600.0, 1)})
            print(f"  gpus_per_trial {gpus:g}: {finished} trials in {wall:.1f} s", flush=True)
    finally:
        ray.shutdown()
    base = rows[0]["trials/hour"]
    for row in rows:
        row["vs 1 per card"] = round(ratio(row["trials/hour"], base), 2)
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Both tables on CUDA; on a machine without CUDA, the message and an empty list."""
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print(NO_CUDA_MESSAGE.format(version=torch.__version__), flush=True)
        return []
    device = resolve_device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32
    started = time.perf_counter()
    choice = synthetic_dense(args.rows, features=args.features, seed=args.seed)
    table = throughput_rows(choice.data, args.models, args.batch_sizes, args.epochs, device,
                            args.seed)
    machine = machine_line(device)
    write_table(table, args.out, "gpu_throughput",
                "GPU training throughput: fp32 vs bf16 autocast, data on the device", machine,
                [choice.description,
                 f"{args.epochs} epochs per run, Adam lr 1e-3, equal weighting; rows/s of the "
                 "fastest training epoch (validation excluded); TF32 matmuls off for fp32.",
                 f"wall time {time.perf_counter() - started:.0f} s"])
    if not args.skip_search:
        with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
            shares = trials_per_card_rows(args, Path(tmp))
        write_table(shares, args.out, "gpu_trials_per_card",
                    "Trials per card: gpus_per_trial 1 vs 0.25", machine,
                    [f"{args.trials} trials of the compact benchmark space, "
                     f"{args.search_rows} rows, {args.search_epochs} epochs each, one CPU per "
                     "trial; trials/hour = trials / wall seconds x 3600 (Ray start excluded)."])
    return table


if __name__ == "__main__":
    main()
