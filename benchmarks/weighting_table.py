"""Validation AUC and step time of every loss-weighting strategy with MMoE on synthetic data.

The MMoE paper's synthetic recipe (Ma et al. KDD 2018, section 3.2) with binary labels, at task
correlation 0.5 and at 0.0 (where gradient conflicts matter); each strategy trains the same MMoE
for a fixed number of epochs (no early stopping) from the same seeds, and the table reports the
mean validation AUC over both tasks after the last epoch (mean and standard deviation over
seeds) and the time of one training step (forward, the strategy's backward, optimiser step)
relative to equal weighting, measured in the same run. Gradient methods whose default is the
shared parameters get a second row with ``grad_on=representation``.

    python -m benchmarks.weighting_table            # 20k rows, 10 epochs, 3 seeds
    python -m benchmarks.weighting_table --quick    # a smoke run
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from automtl.config import ModelConfig, TrainConfig, WeightingConfig
from automtl.data import TabularDataset
from automtl.models.registry import build_model
from automtl.training import Trainer
from automtl.training.losses import task_losses
from automtl.weighting import WeightingContext, available_weightings, build_weighting
from automtl.weighting.registry import get_weighting
from benchmarks.common import (
    base_parser,
    machine_line,
    ratio,
    resolve_device,
    setup_threads,
    synthetic_dense,
    write_table,
)

#: parameters per strategy; the others use their defaults
PARAMS: dict[str, dict[str, Any]] = {"fixed": {"weights": {"y1": 1.0, "y2": 0.5}}}
MODEL: dict[str, Any] = dict(num_shared_experts=4, expert_units=[64], tower_units=[16])


def variants() -> list[tuple[str, dict[str, Any]]]:
    """(strategy, params) rows: every strategy with its defaults, plus the other ``grad_on``
    for the gradient methods that offer both."""
    rows = []
    for name in available_weightings():
        params = PARAMS.get(name, {})
        rows.append((name, params))
        field = get_weighting(name).Params.model_fields.get("grad_on")
        if field is not None:
            other = "representation" if field.default == "parameters" else "parameters"
            rows.append((name, {**params, "grad_on": other}))
    return rows


def build(data: TabularDataset, strategy: str, params: dict[str, Any], seed: int):
    torch.manual_seed(seed)
    model = build_model(ModelConfig(topology="mmoe", inputs=data.schema, tasks=data.tasks,
                                    **MODEL))
    weighting = build_weighting(WeightingConfig(name=strategy, params=params), data.tasks,
                                seed=seed)
    return model, weighting


def run(data: TabularDataset, strategy: str, params: dict[str, Any], seed: int, epochs: int,
        batch_size: int, lr: float, device: torch.device) -> dict[str, float]:
    """Validation AUC per task after the last epoch."""
    model, weighting = build(data, strategy, params, seed)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr,
                         early_stopping_patience=0, seed=seed)
    result = Trainer(model, weighting, config, device).fit(data.train, data.valid, data.tasks)
    last = result.history[-1].valid_metrics
    return {task: last[task]["auc"] for task in last}


def step_seconds(data: TabularDataset, strategy: str, params: dict[str, Any], steps: int,
                 batch_size: int, lr: float, device: torch.device) -> float:
    """Median seconds of one training step (the Trainer's loop body) over ``steps`` batches,
    after ``steps // 4`` warm-up steps."""
    model, weighting = build(data, strategy, params, 0)
    model.to(device)
    weighting.to(device)
    optimizer = torch.optim.Adam(list(model.parameters()) + weighting.extra_parameters(), lr=lr)
    train = data.train.to(device)
    shared = list(model.shared_parameters())
    ids = {id(p) for p in shared}
    parts = dict(shared_parameters=shared, last_shared_parameters=model.last_shared_parameters(),
                 task_parameters=[p for p in model.parameters() if id(p) not in ids])
    names = [t.name for t in data.tasks]
    columns = [train.task_column(n) for n in names]
    times = []
    for step in range(steps + steps // 4):
        start = (step * batch_size) % max(len(train) - batch_size, 1)
        batch = train.slice(start, start + batch_size)
        began = time.perf_counter()
        outputs, representation = model.forward_shared(batch.numeric, batch.categorical)
        losses = task_losses(outputs, batch, data.tasks)
        optimizer.zero_grad(set_to_none=True)
        labelled = dict(zip(names, batch.mask[:, columns].sum(0).int().tolist(), strict=True))
        weighting.backward(losses, WeightingContext(shared_representation=representation,
                                                    labelled=labelled, **parts))
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step >= steps // 4:
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def describe(params: dict[str, Any]) -> str:
    if not params:
        return "defaults"
    return "; ".join(f"{k}={v}" for k, v in params.items()).replace("'", "")


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the table; returns its rows."""
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--correlations", default="0.5,0.0",
                        help="comma-separated task correlations (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per strategy")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.epochs, args.seeds, args.steps = 800, 1, 1, 3
    setup_threads(args.threads)
    device = resolve_device(args.device)
    correlations = [float(c) for c in args.correlations.split(",")]
    datasets = {c: synthetic_dense(args.rows, correlation=c, seed=args.seed) for c in correlations}
    first = datasets[correlations[0]].data
    run(first, "equal", {}, 0, 1, args.batch_size, args.lr, device)  # warm-up, not reported
    baselines = []
    rows = []
    for strategy, params in variants():
        row: dict[str, Any] = {"weighting": strategy, "params": describe(params)}
        for correlation, choice in datasets.items():
            means = []
            for seed in range(args.seed, args.seed + args.seeds):
                auc = run(choice.data, strategy, params, seed, args.epochs, args.batch_size,
                          args.lr, device)
                means.append(statistics.mean(auc.values()))
            row[f"AUC r={correlation}"] = round(statistics.mean(means), 4)
            row[f"sd r={correlation}"] = round(statistics.stdev(means) if len(means) > 1
                                               else 0.0, 4)
        # equal is timed right before each strategy, so a busy machine skews both alike
        baseline = step_seconds(first, "equal", {}, args.steps, args.batch_size, args.lr, device)
        seconds = step_seconds(first, strategy, params, args.steps, args.batch_size, args.lr,
                               device)
        baselines.append(baseline)
        row["step ms"] = round(1000 * seconds, 2)
        row["step / equal"] = round(ratio(seconds, baseline), 2)
        rows.append(row)
    write_table(
        rows, args.out, "weighting_table",
        f"Loss weighting with MMoE: mean validation AUC of both tasks after {args.epochs} epochs",
        machine_line(device),
        notes=[f"data: {datasets[c].description}; {len(datasets[c].data.train)} train / "
               f"{len(datasets[c].data.valid)} valid" for c in correlations] + [
               f"MMoE {MODEL['num_shared_experts']} experts x {MODEL['expert_units']}, towers "
               f"{MODEL['tower_units']}; adam lr {args.lr}, batch {args.batch_size}, no early "
               "stopping; AUC of the last epoch (not the best one)",
               f"mean and sd over seeds {args.seed}..{args.seed + args.seeds - 1} (model init, "
               "shuffling, random draws); the data split is the same for every run",
               f"step: median of {args.steps} training steps (forward, the strategy's backward, "
               f"Adam step) at batch {args.batch_size}, relative to equal weighting timed "
               f"just before it (median {1000 * statistics.median(baselines):.2f} ms)"])
    return rows


if __name__ == "__main__":
    main()
