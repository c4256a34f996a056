"""Trainer overhead: ``Trainer.fit`` as a user calls it against a minimal training loop over the
same model, weights and data, and the step cost of gradient weightings relative to equal.

For each (model, batch): the minimal loop (the model's ``forward_shared``, one fused
BCE-with-logits over both tasks (no missing labels in this data), ``backward``, Adam; a
``randperm`` per epoch and index gathers; no validation) and ``Trainer.fit`` with weighting
``equal``, ``mgda`` and ``pcgrad`` (epochs, per-epoch validation, weight restore and the latency
measurement included: the wall time of the call). Both start from the same initial weights
(the same seed) on the same training split. Rows/s = training rows x epochs / wall seconds;
``fit/loop`` is the trainer's share of the loop's speed (issue 16 aims at >= 0.8); ``step cost
vs equal`` = equal's rows/s / the weighting's rows/s.

``--profile`` also prints (and writes) torch.profiler's table of one ``Trainer.fit`` epoch
(equal weighting) per (model, batch), sorted by self CPU time.

    python -m benchmarks.trainer_overhead
    python -m benchmarks.trainer_overhead --quick
    python -m benchmarks.trainer_overhead --profile --models mmoe --weightings equal
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F

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
from benchmarks.runs import ModelSizes, automtl_model

WEIGHTINGS = ("equal", "mgda", "pcgrad")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[512, 4096])
    parser.add_argument("--models", nargs="+", choices=("mmoe", "ple"), default=["mmoe"])
    parser.add_argument("--weightings", nargs="+", choices=WEIGHTINGS, default=list(WEIGHTINGS))
    parser.add_argument("--profile", action="store_true",
                        help="also profile one Trainer.fit epoch per (model, batch)")
    parser.set_defaults(threads=1)
    args = parser.parse_args(argv)
    if "equal" not in args.weightings:
        args.weightings = ["equal", *args.weightings]
    if args.quick:
        args.rows, args.epochs = min(args.rows, 3000), 1
    return args


def minimal_loop_rows_per_s(data: TabularDataset, topology: str, batch: int, epochs: int,
                            device: torch.device, seed: int) -> float:
    """The baseline: the same model and data, nothing but forward, loss, backward, step."""
    torch.manual_seed(seed)
    model = cast(MTLModel, automtl_model(data, topology, ModelSizes())).to(device)
    train = data.train.to(device)
    names = [t.name for t in TASKS]
    columns = [train.task_column(n) for n in names]
    labels = train.labels[:, columns].float()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator(device=device).manual_seed(seed)
    model.train()
    synchronize(device)
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(train), generator=generator, device=device)
        for start in range(0, len(train), batch):
            rows = order[start:start + batch]
            outputs, _ = model.forward_shared(train.numeric[rows], train.categorical[rows])
            logits = torch.stack([outputs[n].float().reshape(-1) for n in names], dim=1)
            # mean per task, summed over tasks: equal weighting
            loss = F.binary_cross_entropy_with_logits(logits, labels[rows]) * len(names)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    synchronize(device)
    return len(train) * epochs / (time.perf_counter() - started)


def make_trainer(data: TabularDataset, topology: str, weighting: str, batch: int, epochs: int,
                 device: torch.device, seed: int) -> Trainer:
    torch.manual_seed(seed)
    model = cast(MTLModel, automtl_model(data, topology, ModelSizes()))
    config = TrainConfig(optimizer="adam", lr=1e-3, batch_size=batch, epochs=epochs,
                         early_stopping_patience=0, seed=seed)
    return Trainer(model, build_weighting(WeightingConfig(name=weighting), TASKS, seed=seed),
                   config, device)


def fit_rows_per_s(data: TabularDataset, topology: str, weighting: str, batch: int,
                   epochs: int, device: torch.device, seed: int) -> float:
    """``Trainer.fit`` timed as a user calls it (the whole call)."""
    trainer = make_trainer(data, topology, weighting, batch, epochs, device, seed)
    synchronize(device)
    started = time.perf_counter()
    trainer.fit(data.train, data.valid, TASKS)
    synchronize(device)
    return len(data.train) * epochs / (time.perf_counter() - started)


def profile_table(data: TabularDataset, topology: str, batch: int, device: torch.device,
                  seed: int, rows: int = 20) -> str:
    """torch.profiler's key averages of one ``Trainer.fit`` epoch (equal), by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    trainer = make_trainer(data, topology, "equal", batch, 1, device, seed)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                           if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        trainer.fit(data.train, data.valid, TASKS)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    device = resolve_device(args.device)
    setup_threads(args.threads)
    choice = synthetic_dense(args.rows, features=args.features, seed=args.seed)
    started = time.perf_counter()
    table: list[dict[str, Any]] = []
    for topology in args.models:
        for batch in args.batch_sizes:
            loop = minimal_loop_rows_per_s(choice.data, topology, batch, args.epochs, device,
                                           args.seed)
            fits = {w: fit_rows_per_s(choice.data, topology, w, batch, args.epochs, device,
                                      args.seed) for w in args.weightings}
            for weighting, rate in fits.items():
                table.append({"model": topology, "batch": batch, "weighting": weighting,
                              "loop rows/s": round(loop, 1), "fit rows/s": round(rate, 1),
                              "fit/loop": round(ratio(rate, loop), 3),
                              "step cost vs equal": round(ratio(fits["equal"], rate), 2)})
            print(f"  {topology} batch {batch}: loop {loop:,.0f} rows/s; "
                  + ", ".join(f"{w} {r:,.0f}" for w, r in fits.items()), flush=True)
            if args.profile:
                text = profile_table(choice.data, topology, batch, device, args.seed)
                args.out.mkdir(parents=True, exist_ok=True)
                path = Path(args.out) / f"trainer_profile_{topology}_{batch}.txt"
                path.write_text(f"{machine_line(device)}\n\n{text}\n")
                print(f"\none Trainer.fit epoch, {topology} batch {batch}:\n{text}", flush=True)
    write_table(table, args.out, "trainer_overhead",
                "Trainer.fit vs a minimal loop over the same model and data", machine_line(device),
                [choice.description,
                 f"{args.epochs} epoch(s), Adam lr 1e-3; fit = the whole Trainer.fit call "
                 "(validation each epoch, weight restore, latency measurement); loop = forward, "
                 "loss, backward, step only.",
                 "fit/loop: the trainer's share of the loop's rows/s; step cost vs equal: "
                 "equal's rows/s / this weighting's.",
                 f"total wall time {time.perf_counter() - started:.0f} s"])
    return table


if __name__ == "__main__":
    main()
