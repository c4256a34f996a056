"""Hardware ceiling: how close automtl's MMoE training comes to what the machine can do.

For the MMoE of the peer benchmark (8 experts of 64 units, towers of 32, linear gates) on the
synthetic data (d numeric features, two binary tasks), ``torch.utils.flop_counter.FlopCounterMode``
counts the floating-point work per row of the forward pass and of forward + backward (matrix
products only: mm/addmm/bmm, einsum included; elementwise work such as activations, softmax and
the Adam update is not counted, so achieved FLOP/s is a lower bound). Achieved FLOP/s =
FLOPs/row x rows/s, measured for (a) automtl's Trainer epochs and (b) a bare training step
(forward, loss, backward, Adam on pre-cut batches, no Trainer), against ``torch.matmul``
measured in the same run: one of the expert layer's shape ([batch, d] x [d, experts*units])
and a large square one (the machine's practical peak).

    python -m benchmarks.hardware_ceiling
    python -m benchmarks.hardware_ceiling --quick
    python -m benchmarks.hardware_ceiling --device cuda
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from automtl.data.base import SplitTensors
from automtl.models.base import MTLModel
from benchmarks.common import (
    DatasetChoice,
    available_cores,
    base_parser,
    machine_line,
    ratio,
    resolve_device,
    setup_threads,
    synchronize,
    synthetic_dense,
    write_table,
)
from benchmarks.runs import ModelSizes, automtl_model, train_automtl


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[512, 4096])
    parser.add_argument("--bare-steps", type=int, default=60,
                        help="timed bare training steps per repeat (default: %(default)s)")
    parser.add_argument("--square", type=int, default=2048,
                        help="size n of the n x n x n peak matmul (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="repeats of each timed loop; the fastest is kept")
    parser.add_argument("--thread-counts", type=int, nargs="+", default=None,
                        help="torch thread counts to measure (default: 1 and all usable "
                             "cores); overrides --threads")
    args = parser.parse_args(argv)
    args.thread_counts = sorted(set(args.thread_counts or [1, available_cores()]))
    if args.quick:
        args.rows, args.epochs, args.bare_steps, args.repeats = min(args.rows, 12000), 1, 10, 2
        args.square = min(args.square, 1024)
    return args


def training_loss(model: MTLModel, batch: SplitTensors) -> torch.Tensor:
    """Sum of the tasks' mean binary cross-entropies (every label is present here)."""
    outputs = model(batch.numeric, batch.categorical)
    return sum(F.binary_cross_entropy_with_logits(outputs[name], batch.labels[:, i])
               for i, name in enumerate(batch.task_names))  # type: ignore[return-value]


def flops_per_row(model: MTLModel, batch: SplitTensors) -> tuple[float, float]:
    """(forward, forward + backward) matrix-product FLOPs per row, counted on one batch."""
    model.train()
    with FlopCounterMode(display=False) as forward:
        with torch.no_grad():
            training_loss(model, batch)
    with FlopCounterMode(display=False) as both:
        training_loss(model, batch).backward()
    model.zero_grad(set_to_none=True)
    rows = len(batch)
    return forward.get_total_flops() / rows, both.get_total_flops() / rows


def best_seconds(work: Any, repeats: int, device: torch.device) -> float:
    """Fastest of ``repeats`` timings of ``work()`` (after one untimed warm-up call)."""
    work()
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        work()
        synchronize(device)
        best = min(best, time.perf_counter() - started)
    return best


def bare_step_rows_per_s(model: MTLModel, train: SplitTensors, batch_size: int, steps: int,
                         repeats: int, device: torch.device) -> float:
    """Rows/s of forward + loss + backward + Adam on contiguous batches already on the device."""
    train = train.to(device)
    batches = [train.slice(start, start + batch_size)
               for start in range(0, len(train) - batch_size + 1, batch_size)]
    if not batches:
        raise SystemExit(f"--batch-sizes {batch_size}: larger than the {len(train)} train rows")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.to(device).train()

    def run() -> None:
        for step in range(steps):
            optimizer.zero_grad(set_to_none=True)
            training_loss(model, batches[step % len(batches)]).backward()
            optimizer.step()

    return steps * batch_size / best_seconds(run, repeats, device)


def matmul_flops_per_s(rows: int, inner: int, cols: int, device: torch.device, repeats: int,
                       min_seconds: float = 0.2) -> float:
    """FLOP/s of ``torch.matmul`` of [rows, inner] x [inner, cols] (2·rows·inner·cols each)."""
    left = torch.randn(rows, inner, device=device)
    right = torch.randn(inner, cols, device=device)
    flops = 2.0 * rows * inner * cols

    def products(calls: int) -> Any:
        return lambda: [torch.matmul(left, right) for _ in range(calls)]

    calls = 1  # enough calls per timing that timer and launch overhead do not matter
    while best_seconds(products(calls), 1, device) < min_seconds and calls < 1 << 16:
        calls *= 2
    return flops * calls / best_seconds(products(calls), repeats, device)


def measure_threads(args: argparse.Namespace, choice: DatasetChoice, device: torch.device,
                    threads: int) -> list[dict[str, Any]]:
    """The rows for one torch thread count (every batch size)."""
    setup_threads(threads)
    sizes = ModelSizes()
    data = choice.data
    in_dim = len(data.schema.numeric)
    expert_width = sizes.mmoe_experts * sizes.expert_units  # all experts' first layer at once
    peak = matmul_flops_per_s(args.square, args.square, args.square, device, args.repeats)
    rows: list[dict[str, Any]] = []
    for batch_size in args.batch_sizes:
        torch.manual_seed(args.seed)
        model = automtl_model(data, "mmoe", sizes)
        forward, both = flops_per_row(model, data.train.slice(0, batch_size))
        trainer = train_automtl(data, "mmoe", sizes, batch_size, args.epochs, 1e-3, device,
                                args.seed)
        bare = bare_step_rows_per_s(model, data.train, batch_size, args.bare_steps,
                                    args.repeats, device)
        shaped = matmul_flops_per_s(batch_size, in_dim, expert_width, device, args.repeats)
        achieved = both * trainer.rows_per_second
        rows.append({
            "threads": threads if device.type == "cpu" else "gpu",
            "batch": batch_size,
            "MFLOP/row fwd": round(forward / 1e6, 4),
            "MFLOP/row fwd+bwd": round(both / 1e6, 4),
            "Trainer rows/s": round(trainer.rows_per_second, 1),
            "Trainer GFLOP/s": round(achieved / 1e9, 2),
            "bare step rows/s": round(bare, 1),
            "bare step GFLOP/s": round(both * bare / 1e9, 2),
            "same-shape matmul": f"{batch_size}x{in_dim} @ {in_dim}x{expert_width}",
            "same-shape matmul GFLOP/s": round(shaped / 1e9, 2),
            "peak matmul GFLOP/s": round(peak / 1e9, 2),
            "Trainer % of same-shape matmul": round(100 * ratio(achieved, shaped), 1),
            "Trainer % of peak matmul": round(100 * ratio(achieved, peak), 1),
            "valid AUC": round(trainer.mean_auc, 4),
        })
        print(f"  {threads} thread(s), batch {batch_size}: {achieved / 1e9:.2f} GFLOP/s in "
              f"the Trainer, {shaped / 1e9:.2f} same-shape matmul, {peak / 1e9:.2f} peak",
              flush=True)
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    device = resolve_device(args.device)
    choice = synthetic_dense(args.rows, features=args.features, seed=args.seed)
    counts = args.thread_counts if device.type == "cpu" else [args.threads]
    rows = [row for threads in counts for row in measure_threads(args, choice, device, threads)]
    sizes = ModelSizes()
    notes = [f"data: {choice.description}; MMoE {sizes.mmoe_experts} experts of "
             f"{sizes.expert_units}, towers of {sizes.tower_units}, linear gates; "
             f"{args.epochs} epoch(s)",
             "FLOPs: FlopCounterMode, matrix products only (elementwise ops and the Adam "
             "update are not counted); fwd+bwd = one training step's forward and backward.",
             "Trainer rows/s: fastest training epoch of automtl's Trainer (validation "
             "excluded); bare step: forward + loss + backward + Adam on pre-cut batches; "
             f"matmul: fastest of the repeats, in the same run; peak = {args.square}^3 "
             "float32 matmul at the same thread count."]
    write_table(rows, args.out, "hardware_ceiling",
                "Hardware ceiling: MMoE training FLOP/s against torch.matmul",
                machine_line(device).replace(f"torch threads: {torch.get_num_threads()}",
                                             "torch threads: per row"), notes)
    return rows

if __name__ == "__main__":
    main()
