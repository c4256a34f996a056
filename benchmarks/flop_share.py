"""A training step's FLOP/s as a share of a same-shape ``torch.matmul``, measured interleaved.

Issue 16's second goal: at batch 4096 a training step of MMoE / PLE (the sizes of
:mod:`benchmarks.peer_throughput`) reaches >= 50% of the FLOP/s of ``torch.matmul`` of the
experts' first-layer shape (``[batch, input width] x [input width, experts x units]``).
Whole-run figures (``peer_throughput``'s column) time the model and the reference minutes apart;
on a shared machine the load between them moves either by 2x. Here the two alternate inside one
process, ``--rounds`` times: ``--steps`` training steps (forward, the masked loss of
:func:`benchmarks.runs.loop_loss`, backward, Adam on contiguous batches of the training split),
then the reference product, each in CPU seconds of the process (waiting for a core is not
counted; with one torch thread that is the speed while the process runs). Step FLOPs: matrix
products of forward + backward per row (:func:`benchmarks.hardware_ceiling.flops_per_row`,
elementwise work not counted). Each round gives one share; the table has the median and the
range over rounds.

    python -m benchmarks.flop_share                      # mmoe, ple x synthetic, categorical
    python -m benchmarks.flop_share --quick
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, cast

import torch

from benchmarks.common import (
    TASKS,
    base_parser,
    machine_line,
    resolve_device,
    setup_threads,
    synchronize,
    synthetic_categorical,
    synthetic_dense,
    write_table,
)
from benchmarks.hardware_ceiling import flops_per_row
from benchmarks.runs import ModelSizes, automtl_model, loop_loss


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--models", nargs="+", choices=("mmoe", "ple"), default=["mmoe", "ple"])
    parser.add_argument("--datasets", nargs="+", choices=("synthetic", "categorical"),
                        default=["synthetic", "categorical"])
    parser.add_argument("--steps", type=int, default=5, help="training steps per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.set_defaults(threads=1)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.batch, args.steps, args.rounds = 3000, 512, 2, 2
    return args


def cpu_seconds(work: Any, device: torch.device) -> float:
    synchronize(device)
    started = time.process_time()
    work()
    synchronize(device)
    return time.process_time() - started


def measure(dataset: str, topology: str, args: argparse.Namespace,
            device: torch.device) -> dict[str, Any]:
    """One (dataset, model) row: the step's and the reference's GFLOP/s per round."""
    choice = synthetic_dense(args.rows, seed=args.seed) if dataset == "synthetic" \
        else synthetic_categorical(args.rows, seed=args.seed)
    data, sizes = choice.data, ModelSizes()
    torch.manual_seed(args.seed)
    model = automtl_model(data, topology, sizes).to(device)
    train = data.train.to(device)
    batches = [train.slice(start, start + args.batch)
               for start in range(0, len(train) - args.batch + 1, args.batch)]
    if not batches:
        raise SystemExit(f"--batch {args.batch}: larger than the {len(train)} training rows")
    _, per_row = flops_per_row(cast(Any, model), batches[0])
    names = [t.name for t in TASKS]
    columns = [train.task_column(n) for n in names]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    in_dim = int(cast(Any, model).inputs.output_dim)
    experts = sizes.mmoe_experts if topology == "mmoe" \
        else sizes.ple_shared + sizes.ple_task * len(TASKS)
    width = experts * sizes.expert_units
    left = torch.randn(args.batch, in_dim, device=device)
    right = torch.randn(in_dim, width, device=device)
    reference_flops = 2.0 * args.batch * in_dim * width

    def steps() -> None:
        for step in range(args.steps):
            batch = batches[step % len(batches)]
            outputs, _ = cast(Any, model).forward_shared(batch.numeric, batch.categorical)
            loss = loop_loss(outputs, batch.labels[:, columns], batch.mask[:, columns], names)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def products(count: int) -> Any:
        return lambda: [torch.matmul(left, right) for _ in range(count)]

    calls = 1  # enough products per timing that the timer's resolution does not matter
    while cpu_seconds(products(calls), device) < 0.1 and calls < 1 << 12:
        calls *= 2
    steps()  # warm-up
    shares, step_rates, reference_rates = [], [], []
    for _ in range(args.rounds):
        step_s = cpu_seconds(steps, device)
        reference_s = cpu_seconds(products(calls), device)
        step_rates.append(per_row * args.batch * args.steps / step_s)
        reference_rates.append(reference_flops * calls / reference_s)
        shares.append(100 * step_rates[-1] / reference_rates[-1])
    return {"dataset": dataset, "model": topology, "batch": args.batch,
            "MFLOP/row fwd+bwd": round(per_row / 1e6, 4),
            "step ms (CPU, median)": round(
                1000 * args.batch * per_row / statistics.median(step_rates), 2),
            "step GFLOP/s (median)": round(statistics.median(step_rates) / 1e9, 2),
            "same-shape matmul": f"{args.batch}x{in_dim} @ {in_dim}x{width}",
            "matmul GFLOP/s (median)": round(statistics.median(reference_rates) / 1e9, 2),
            "% of matmul (median)": round(statistics.median(shares), 1),
            "% of matmul (min-max)": f"{min(shares):.1f}-{max(shares):.1f}",
            ">= 50%": "yes" if statistics.median(shares) >= 50 else "no"}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    device = resolve_device(args.device)
    setup_threads(args.threads)
    rows = []
    for dataset in args.datasets:
        for topology in args.models:
            rows.append(measure(dataset, topology, args, device))
            print(f"  {dataset} {topology}: {rows[-1]['% of matmul (median)']}% of the "
                  "same-shape matmul", flush=True)
    notes = [f"{args.rounds} rounds of {args.steps} training steps (batch {args.batch}) "
             "alternating with the same-shape matmul in one process, each in CPU seconds; "
             "FLOPs: matrix products of forward + backward (FlopCounterMode)."]
    write_table(rows, args.out, "flop_share",
                "Training step FLOP/s as a share of the same-shape matmul (interleaved)",
                machine_line(device), notes)
    return rows


if __name__ == "__main__":
    main()
