"""Trial options that may pay: ``torch.compile`` of the model, and torch threads per trial vs
trials at a time.

1. ``trial_compile``: MMoE (8 experts x 64, towers 32) trained by ``Trainer.fit`` with
   ``TrainConfig.compile`` off and on, same data, weights and seed. Compile seconds = the
   first epoch with compile on minus a steady epoch with compile on (the one-off tracing and
   code generation, including the recompile for the shorter last batch); steady rows/s = the
   fastest later epoch of each. Break-even = the training rows a trial must process before the
   compiled model has made up its compile time: compile_s / (1/rows_s_off - 1/rows_s_on)
   ("never" when compile on is not faster). The presets' trials (3 epochs of 16,000 training
   rows: 20k rows, 20% held out) are compared with it: compile pays only for longer trials.
2. ``trial_threads``: ``--trials`` equal trials (MMoE, ``--rows`` rows, ``--epochs`` epochs,
   whole ``Trainer.fit`` as a search trial runs it) run by worker processes on ``--cores``
   cores split two ways: 1 worker x 2 torch threads (trials one after another) and 2 workers x 1
   thread (two trials at a time). Trials/hour = trials / wall seconds x 3600 (worker start-up
   and data generation excluded); the ratio is against 1 x 2 in the same run.

The machine is shared: the load average is in the machine line; compare ratios, not figures.

    python -m benchmarks.trial_options
    python -m benchmarks.trial_options --quick
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import torch

from benchmarks.common import (
    DatasetChoice,
    available_cores,
    base_parser,
    machine_line,
    ratio,
    setup_threads,
    synthetic_dense,
    write_table,
)
from benchmarks.runs import ModelSizes, train_automtl

#: training rows of one preset trial: 3 epochs x 16,000 rows (20k rows, 20% held out)
PRESET_TRIAL_ROWS = 3 * 16_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[512, 2048],
                        help="batch sizes of the compile table (the presets use 512-2048)")
    parser.add_argument("--compile-epochs", type=int, default=3,
                        help="epochs per compile run (>= 2: one to compile, the rest steady)")
    parser.add_argument("--trials", type=int, default=6, help="trials per thread split")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per thread-split trial")
    parser.add_argument("--cores", type=int, default=2, help="cores the thread split shares")
    parser.add_argument("--skip-compile", action="store_true")
    parser.add_argument("--skip-threads", action="store_true")
    parser.set_defaults(threads=1)
    args = parser.parse_args(argv)
    if args.device != "cpu":
        parser.error("--device: trial_options measures CPU trials; see benchmarks.gpu_check")
    if args.compile_epochs < 2:
        parser.error("--compile-epochs must be >= 2 (one compiles, the others are steady)")
    if args.cores < 2 or args.cores % 2:
        parser.error("--cores must be an even number >= 2")
    if args.quick:
        args.rows, args.batch_sizes, args.compile_epochs = min(args.rows, 3000), [512], 2
        args.trials, args.epochs = 2, 1
    return args


def break_even_rows(compile_s: float, rows_s_off: float, rows_s_on: float) -> float:
    """Training rows after which compiling has paid for itself; ``inf`` when compiled steps are
    not faster. ``compile_s`` in seconds, rates in rows/s."""
    saved_per_row = 1.0 / rows_s_off - 1.0 / rows_s_on
    if saved_per_row <= 0.0:
        return math.inf
    return max(compile_s, 0.0) / saved_per_row


def compile_rows(choice: DatasetChoice, batch_sizes: list[int], epochs: int,
                 seed: int) -> list[dict[str, Any]]:
    """One row per batch size: compile seconds, steady rows/s off/on, break-even rows."""
    table = []
    device = torch.device("cpu")
    train_rows = len(choice.data.train)
    for batch in batch_sizes:
        off = train_automtl(choice.data, "mmoe", ModelSizes(), batch, epochs, 1e-3, device, seed)
        on = train_automtl(choice.data, "mmoe", ModelSizes(), batch, epochs, 1e-3, device, seed,
                           compile=True)
        steady_off = train_rows / min(off.epoch_seconds[1:])
        steady_on = train_rows / min(on.epoch_seconds[1:])
        compile_s = on.epoch_seconds[0] - min(on.epoch_seconds[1:])
        even = break_even_rows(compile_s, steady_off, steady_on)
        table.append({
            "model": "mmoe", "batch": batch, "compile_s": round(compile_s, 2),
            "rows/s off": round(steady_off, 1), "rows/s on": round(steady_on, 1),
            "on/off": round(ratio(steady_on, steady_off), 2),
            "break-even rows": round(even) if math.isfinite(even) else "never",
            "preset trial rows": PRESET_TRIAL_ROWS,
            "pays for a preset trial": math.isfinite(even) and even <= PRESET_TRIAL_ROWS,
            "AUC off": round(off.mean_auc, 4), "AUC on": round(on.mean_auc, 4)})
        print(f"  batch {batch}: compile {compile_s:.1f} s, steady {steady_off:,.0f} -> "
              f"{steady_on:,.0f} rows/s", flush=True)
    return table


# --------------------------------------------------------------------- thread split (workers)

_WORKER_DATA: DatasetChoice | None = None


def _worker_setup(threads: int, rows: int, features: int, seed: int) -> None:
    global _WORKER_DATA
    torch.set_num_threads(threads)
    _WORKER_DATA = synthetic_dense(rows, features=features, seed=seed)


def _worker_ready(_: int) -> int:
    time.sleep(0.5)  # hold this worker so the next call starts (or reaches) another one
    return torch.get_num_threads()


def _worker_trial(seed: int, epochs: int) -> float:
    assert _WORKER_DATA is not None
    started = time.perf_counter()
    train_automtl(_WORKER_DATA.data, "mmoe", ModelSizes(), 1024, epochs, 1e-3,
                  torch.device("cpu"), seed, measure_latency=True)  # as a search trial does
    return time.perf_counter() - started


def run_split(workers: int, threads: int, args: argparse.Namespace) -> dict[str, Any]:
    """``args.trials`` trials on ``workers`` processes of ``threads`` torch threads each."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=_worker_setup,
                             initargs=(threads, args.rows, args.features, args.seed)) as pool:
        seen = list(pool.map(_worker_ready, range(workers)))  # start every worker first
        if any(t != threads for t in seen):
            raise RuntimeError(f"workers run {seen} torch threads, expected {threads}")
        started = time.perf_counter()
        seconds = list(pool.map(_worker_trial, [args.seed + i for i in range(args.trials)],
                                [args.epochs] * args.trials))
        wall = time.perf_counter() - started
    return {"split": f"{workers} x {threads}", "trials at a time": workers,
            "threads per trial": threads, "trials": len(seconds), "wall_s": round(wall, 1),
            "mean trial_s": round(sum(seconds) / len(seconds), 2),
            "trials/hour": round(len(seconds) / wall * 3600.0, 1)}


def thread_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The two splits of ``args.cores`` cores, ``1 x cores`` first (the baseline)."""
    table = [run_split(1, args.cores, args), run_split(args.cores, 1, args)]
    for row in table:
        row[f"vs 1 x {args.cores}"] = round(ratio(row["trials/hour"],
                                                    table[0]["trials/hour"]), 2)
        print(f"  {row['split']}: {row['trials/hour']:,.0f} trials/hour", flush=True)
    return table


def main(argv: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    args = parse_args(argv)
    setup_threads(args.threads)
    started = time.perf_counter()
    tables: dict[str, list[dict[str, Any]]] = {}
    if not args.skip_compile:
        choice = synthetic_dense(args.rows, features=args.features, seed=args.seed)
        tables["trial_compile"] = compile_rows(choice, args.batch_sizes, args.compile_epochs,
                                               args.seed)
        write_table(tables["trial_compile"], args.out, "trial_compile",
                    "torch.compile per trial: compile cost, steady throughput, break-even",
                    machine_line(), [
                        choice.description,
                        f"{args.compile_epochs} epochs per run, {args.threads} torch thread(s),"
                        " Adam lr 1e-3, equal weighting; compile_s = first compiled epoch - "
                        "fastest later compiled epoch; rows/s of the fastest later epoch.",
                        f"break-even rows = compile_s / (1/rows_s_off - 1/rows_s_on); a preset "
                        f"trial trains {PRESET_TRIAL_ROWS:,} rows."])
    if not args.skip_threads:
        tables["trial_threads"] = thread_rows(args)
        write_table(tables["trial_threads"], args.out, "trial_threads",
                    f"Torch threads per trial vs trials at a time on {args.cores} cores",
                    machine_line(), [
                        f"{args.trials} MMoE trials of {args.rows} rows x {args.epochs} "
                        "epoch(s), batch 1024, whole Trainer.fit (validation and latency "
                        "included); worker start-up and data generation excluded.",
                        f"usable cores here: {available_cores()}",
                        f"total wall time {time.perf_counter() - started:.0f} s"])
    return tables


if __name__ == "__main__":
    main()
