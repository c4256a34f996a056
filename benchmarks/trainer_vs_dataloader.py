"""Training throughput: automtl's Trainer (tensors on the device, one randperm per epoch and
index gathers) against the same model and training step fed by a plain ``torch.utils.data``
``DataLoader`` over a ``TensorDataset`` (shuffle=True, default collation), in the same process.

Both sides run the identical step (forward_shared, masked task losses, the weighting's
backward, Adam step) and the same per-epoch validation on a small split; only how batches are
produced differs. Rows/s = training rows x epochs / wall time of the epochs.

    python -m benchmarks.trainer_vs_dataloader
    python -m benchmarks.trainer_vs_dataloader --quick
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset

from automtl.config import ModelConfig, TrainConfig, WeightingConfig
from automtl.data import TabularDataset
from automtl.data.base import SplitTensors
from automtl.models.registry import build_model
from automtl.training import Trainer, build_optimizer, task_losses
from automtl.weighting import WeightingContext, build_weighting
from benchmarks.common import (
    base_parser,
    machine_line,
    resolve_device,
    setup_threads,
    synchronize,
    synthetic_dense,
    write_table,
)

MODEL: dict[str, Any] = dict(num_shared_experts=4, expert_units=[64], tower_units=[16])


def make_parts(data: TabularDataset, seed: int):
    torch.manual_seed(seed)
    model = build_model(ModelConfig(topology="mmoe", inputs=data.schema, tasks=data.tasks,
                                    **MODEL))
    weighting = build_weighting(WeightingConfig(name="equal"), data.tasks, seed=seed)
    return model, weighting


def trainer_rows_per_s(data: TabularDataset, valid: SplitTensors, batch_size: int, epochs: int,
                       device: torch.device, seed: int) -> float:
    model, weighting = make_parts(data, seed)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, early_stopping_patience=0,
                         seed=seed)
    trainer = Trainer(model, weighting, config, device)
    result = trainer.fit(data.train, valid, data.tasks)
    seconds = sum(record.seconds for record in result.history)
    return len(data.train) * epochs / seconds


def dataloader_rows_per_s(data: TabularDataset, valid: SplitTensors, batch_size: int,
                          epochs: int, device: torch.device, seed: int) -> float:
    model, weighting = make_parts(data, seed)
    model.to(device)
    train = data.train  # stays on the host: the DataLoader feeds the device batch by batch
    names = train.task_names
    loader = DataLoader(TensorDataset(train.numeric, train.categorical, train.labels, train.mask),
                        batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed),
                        pin_memory=device.type == "cuda")
    optimizer = build_optimizer(TrainConfig(), list(model.parameters()), [])
    evaluator = Trainer(model, weighting, TrainConfig(), device)
    evaluator.tasks = list(data.tasks)
    shared = list(model.shared_parameters())
    shared_ids = {id(p) for p in shared}
    others = [p for p in model.parameters() if id(p) not in shared_ids]
    valid = valid.to(device)
    elapsed = 0.0
    for epoch in range(epochs):
        synchronize(device)
        started = time.perf_counter()
        model.train()
        for numeric, categorical, labels, mask in loader:
            batch = SplitTensors(numeric.to(device, non_blocking=True),
                                 categorical.to(device, non_blocking=True),
                                 labels.to(device, non_blocking=True),
                                 mask.to(device, non_blocking=True), names)
            outputs, representation = model.forward_shared(batch.numeric, batch.categorical)
            losses = task_losses(outputs, batch, data.tasks)
            optimizer.zero_grad(set_to_none=True)
            weighting.backward(losses, WeightingContext(
                epoch=epoch, shared_parameters=shared,
                last_shared_parameters=model.last_shared_parameters(), task_parameters=others,
                shared_representation=representation))
            optimizer.step()
        evaluator.evaluate(valid)
        synchronize(device)
        elapsed += time.perf_counter() - started
    return len(train) * epochs / elapsed


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024, 4096])
    args = parser.parse_args()
    if args.quick:
        args.rows, args.epochs, args.repeats, args.batch_sizes = 4000, 1, 1, [256]
    setup_threads(args.threads)
    device = resolve_device(args.device)
    choice = synthetic_dense(args.rows, seed=args.seed)
    data = choice.data
    valid = data.valid.slice(0, 512)
    trainer_rows_per_s(data, valid, 256, 1, device, args.seed)  # warm-up, not reported
    rows = []
    for batch_size in args.batch_sizes:
        ours, theirs = [], []
        for repeat in range(args.repeats):  # interleaved so load changes hit both alike
            ours.append(trainer_rows_per_s(data, valid, batch_size, args.epochs, device,
                                           args.seed + repeat))
            theirs.append(dataloader_rows_per_s(data, valid, batch_size, args.epochs, device,
                                                args.seed + repeat))
        a, b = statistics.median(ours), statistics.median(theirs)
        rows.append({"batch size": batch_size, "Trainer rows/s": round(a),
                     "DataLoader rows/s": round(b), "speed-up": round(a / b, 2)})
    write_table(
        rows, args.out, "trainer_vs_dataloader",
        "Training throughput: Trainer vs a DataLoader over a TensorDataset (MMoE, equal)",
        machine_line(device),
        notes=[f"data: {choice.description}; {len(data.train)} training rows; validation on "
               f"{len(valid)} rows each epoch on both sides",
               f"MMoE {MODEL['num_shared_experts']} experts x {MODEL['expert_units']}, towers "
               f"{MODEL['tower_units']}, equal weighting, adam; median of {args.repeats} "
               f"interleaved runs of {args.epochs} epochs each",
               "DataLoader: shuffle=True, num_workers=0, default collation, batches moved to "
               "the device per step (pinned on CUDA)"])


if __name__ == "__main__":
    main()
