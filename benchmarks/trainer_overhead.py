"""Trainer overhead: ``Trainer.fit`` as a user calls it against a minimal training loop over the
same model, weights and data, and the step cost of gradient weightings relative to equal.

For each (model, batch), ``--repeats`` times in turn (so load from other processes hits all
alike; the median is kept): the minimal loop (:func:`benchmarks.runs.minimal_loop`: a
``randperm`` per epoch and index gathers per batch, ``forward_shared``, the masked loss (each
task's mean BCE over its labelled rows, summed), ``zero_grad``, ``backward``, Adam; no
validation) and ``Trainer.fit`` (:func:`benchmarks.runs.fit_automtl`: the whole call, each
epoch's validation pass and the weight restore included) with weighting ``equal``, ``mgda`` and
``pcgrad``. Both start from the same initial weights (the same seed) on the same training
split. Rows/s = training rows x epochs / seconds; ``fit/loop`` is the trainer's share of the
loop's speed in wall time and in CPU time of this process (issue 16 aims at >= 0.8);
``step cost vs equal`` = equal's rows/s / the weighting's; ``validation share`` = the
validation passes' part of the fit (``Trainer.evaluate`` on the valid split, timed separately,
x epochs / fit seconds).

``--profile`` also prints (and writes) torch.profiler's tables of one minimal-loop epoch and
one ``Trainer.fit`` epoch (equal weighting) per (model, batch), sorted by self CPU time.

    python -m benchmarks.trainer_overhead
    python -m benchmarks.trainer_overhead --quick
    python -m benchmarks.trainer_overhead --profile --models mmoe --weightings equal
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any, cast

import torch

from automtl.config import TrainConfig, WeightingConfig
from automtl.data import TabularDataset
from automtl.models.base import MTLModel
from automtl.training import Trainer
from automtl.weighting import build_weighting
from benchmarks.common import (
    TASKS,
    base_parser,
    machine_line,
    ratio,
    resolve_device,
    setup_threads,
    synchronize,
    synthetic_dense,
    write_table,
)
from benchmarks.runs import ModelSizes, RunResult, automtl_model, fit_automtl, minimal_loop

WEIGHTINGS = ("equal", "mgda", "pcgrad")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[512, 4096])
    parser.add_argument("--models", nargs="+", choices=("mmoe", "ple"), default=["mmoe"])
    parser.add_argument("--weightings", nargs="+", choices=WEIGHTINGS, default=list(WEIGHTINGS))
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved repeats of every run; the median is kept")
    parser.add_argument("--profile", action="store_true",
                        help="also profile one minimal-loop and one Trainer.fit epoch per "
                             "(model, batch)")
    parser.set_defaults(threads=1)
    args = parser.parse_args(argv)
    if "equal" not in args.weightings:
        args.weightings = ["equal", *args.weightings]
    if args.quick:
        args.rows, args.epochs, args.repeats = min(args.rows, 3000), 1, 1
    return args


def make_trainer(data: TabularDataset, topology: str, weighting: str, batch: int, epochs: int,
                 device: torch.device, seed: int) -> Trainer:
    torch.manual_seed(seed)
    model = cast(MTLModel, automtl_model(data, topology, ModelSizes()))
    config = TrainConfig(optimizer="adam", lr=1e-3, batch_size=batch, epochs=epochs,
                         early_stopping_patience=0, seed=seed)
    return Trainer(model, build_weighting(WeightingConfig(name=weighting), TASKS, seed=seed),
                   config, device)


def validation_seconds(data: TabularDataset, topology: str, batch: int, device: torch.device,
                       seed: int, repeats: int = 3) -> float:
    """Median seconds of one ``Trainer.evaluate`` of the valid split (the per-epoch pass)."""
    trainer = make_trainer(data, topology, "equal", batch, 1, device, seed)
    trainer.tasks = list(TASKS)
    timings = []
    for _ in range(repeats + 1):  # the first call warms up
        synchronize(device)
        started = time.perf_counter()
        trainer.evaluate(data.valid)
        synchronize(device)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings[1:])


def profile_tables(data: TabularDataset, topology: str, batch: int, device: torch.device,
                   seed: int, rows: int = 20) -> dict[str, str]:
    """torch.profiler's key averages of one minimal-loop epoch and one ``Trainer.fit`` epoch
    (equal), by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                           if device.type == "cuda" else [])
    runs = {"minimal loop": lambda: minimal_loop(data, topology, ModelSizes(), batch, 1, 1e-3,
                                                 device, seed),
            "Trainer.fit": lambda: fit_automtl(data, topology, ModelSizes(), batch, 1, 1e-3,
                                               device, seed)}
    tables = {}
    for name, run in runs.items():
        with profile(activities=activities) as prof:
            run()
        tables[name] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)
    return tables


def measure(data: TabularDataset, topology: str, batch: int, args: argparse.Namespace,
            device: torch.device) -> list[dict[str, Any]]:
    """The table rows of one (model, batch): medians over ``args.repeats`` interleaved runs."""
    runs: dict[str, list[RunResult]] = {name: [] for name in ["loop", *args.weightings]}
    for _ in range(args.repeats):
        runs["loop"].append(minimal_loop(data, topology, ModelSizes(), batch, args.epochs, 1e-3,
                                         device, args.seed))
        for weighting in args.weightings:
            runs[weighting].append(fit_automtl(data, topology, ModelSizes(), batch, args.epochs,
                                               1e-3, device, args.seed, weighting))
    wall = {k: statistics.median(r.rows_per_second for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r.cpu_rows_per_second for r in v) for k, v in runs.items()}
    valid_s = validation_seconds(data, topology, batch, device, args.seed)
    table = []
    for weighting in args.weightings:
        fit_s = len(data.train) * args.epochs / wall[weighting]
        table.append({"model": topology, "batch": batch, "weighting": weighting,
                      "loop rows/s": round(wall["loop"], 1),
                      "fit rows/s": round(wall[weighting], 1),
                      "fit/loop": round(ratio(wall[weighting], wall["loop"]), 3),
                      "fit/loop (CPU time)": round(ratio(cpu[weighting], cpu["loop"]), 3),
                      "step cost vs equal": round(ratio(wall["equal"], wall[weighting]), 2),
                      "validation share": round(ratio(valid_s * args.epochs, fit_s), 3),
                      "loop AUC": round(runs["loop"][-1].mean_auc, 4),
                      "fit AUC": round(runs[weighting][-1].mean_auc, 4)})
    print(f"  {topology} batch {batch}: loop {wall['loop']:,.0f} rows/s; "
          + ", ".join(f"{w} {wall[w]:,.0f} ({ratio(wall[w], wall['loop']):.2f})"
                      for w in args.weightings)
          + f"; load {os.getloadavg()[0]:.1f}", flush=True)
    return table


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    device = resolve_device(args.device)
    setup_threads(args.threads)
    choice = synthetic_dense(args.rows, features=args.features, seed=args.seed)
    started = time.perf_counter()
    table: list[dict[str, Any]] = []
    for topology in args.models:
        for batch in args.batch_sizes:
            table += measure(choice.data, topology, batch, args, device)
            if args.profile:
                tables = profile_tables(choice.data, topology, batch, device, args.seed)
                args.out.mkdir(parents=True, exist_ok=True)
                text = "\n\n".join(f"one {name} epoch, {topology} batch {batch}:\n{t}"
                                   for name, t in tables.items())
                path = Path(args.out) / f"trainer_profile_{topology}_{batch}.txt"
                path.write_text(f"{machine_line(device)}\n\n{text}\n")
                print(f"\n{text}", flush=True)
    write_table(table, args.out, "trainer_overhead",
                "Trainer.fit vs a minimal loop over the same model and data", machine_line(device),
                [choice.description,
                 f"{args.epochs} epoch(s), Adam lr 1e-3, medians of {args.repeats} interleaved "
                 "repeats; fit = the whole Trainer.fit call (a validation pass each epoch, "
                 "weight restore); loop = randperm + index gathers, forward, masked loss, "
                 "backward, Adam; no validation.",
                 "fit/loop: the trainer's share of the loop's rows/s (wall; CPU time of this "
                 "process); step cost vs equal: equal's rows/s / this weighting's; validation "
                 "share: Trainer.evaluate of the valid split x epochs / fit seconds.",
                 f"total wall time {time.perf_counter() - started:.0f} s"])
    return table


if __name__ == "__main__":
    main()
