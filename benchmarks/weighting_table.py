"""Per-task validation AUC of every loss-weighting strategy with MMoE on the synthetic data.

The MMoE paper's synthetic recipe (Ma et al. KDD 2018, section 3.2) with binary labels and
task correlation 0.5; each strategy trains the same MMoE for a fixed number of epochs (no early
stopping) from the same seeds, and the table reports the validation AUC after the last epoch
(mean and standard deviation over seeds).

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
from automtl.weighting import available_weightings, build_weighting
from benchmarks.common import (
    base_parser,
    machine_line,
    resolve_device,
    setup_threads,
    synthetic_dense,
    write_table,
)

#: parameters per strategy; the others use their defaults
PARAMS: dict[str, dict[str, Any]] = {"fixed": {"weights": {"y1": 1.0, "y2": 0.5}}}
MODEL: dict[str, Any] = dict(num_shared_experts=4, expert_units=[64], tower_units=[16])


def run(data: TabularDataset, strategy: str, seed: int, epochs: int, batch_size: int, lr: float,
        device: torch.device) -> tuple[dict[str, float], float]:
    """Validation AUC per task after the last epoch, and the seconds the fit took."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig(topology="mmoe", inputs=data.schema, tasks=data.tasks,
                                    **MODEL))
    weighting = build_weighting(WeightingConfig(name=strategy, params=PARAMS.get(strategy, {})),
                                data.tasks, seed=seed)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr,
                         early_stopping_patience=0, seed=seed)
    started = time.perf_counter()
    result = Trainer(model, weighting, config, device).fit(data.train, data.valid, data.tasks)
    last = result.history[-1].valid_metrics
    return {task: last[task]["auc"] for task in last}, time.perf_counter() - started


def describe(strategy: str) -> str:
    params = PARAMS.get(strategy)
    if not params:
        return "defaults"
    return "; ".join(f"{k}={v}" for k, v in params.items()).replace("'", "")


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--correlation", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.epochs, args.seeds = 2000, 2, 1
    setup_threads(args.threads)
    device = resolve_device(args.device)
    choice = synthetic_dense(args.rows, correlation=args.correlation, seed=args.seed)
    data = choice.data
    run(data, "equal", 0, 1, args.batch_size, args.lr, device)  # warm-up, not reported
    rows = []
    for strategy in available_weightings():
        aucs: dict[str, list[float]] = {"y1": [], "y2": []}
        seconds = []
        for seed in range(args.seed, args.seed + args.seeds):
            auc, elapsed = run(data, strategy, seed, args.epochs, args.batch_size, args.lr,
                               device)
            for task in aucs:
                aucs[task].append(auc[task])
            seconds.append(elapsed)
        spread = {t: statistics.stdev(v) if len(v) > 1 else 0.0 for t, v in aucs.items()}
        rows.append({
            "weighting": strategy, "params": describe(strategy),
            "y1 AUC": round(statistics.mean(aucs["y1"]), 4), "y1 sd": round(spread["y1"], 4),
            "y2 AUC": round(statistics.mean(aucs["y2"]), 4), "y2 sd": round(spread["y2"], 4),
            "mean AUC": round(statistics.mean(aucs["y1"] + aucs["y2"]), 4),
            "s/run": round(statistics.mean(seconds), 1)})
    write_table(
        rows, args.out, "weighting_table",
        f"Loss weighting with MMoE: validation AUC after {args.epochs} epochs",
        machine_line(device),
        notes=[f"data: {choice.description}; {len(data.train)} train / {len(data.valid)} valid",
               f"MMoE {MODEL['num_shared_experts']} experts x {MODEL['expert_units']}, towers "
               f"{MODEL['tower_units']}; adam lr {args.lr}, batch {args.batch_size}, no early "
               "stopping; AUC of the last epoch (not the best one)",
               f"mean and sd over seeds {args.seed}..{args.seed + args.seeds - 1} (model init, "
               "shuffling, PCGrad order); the data split is the same for every run"])


if __name__ == "__main__":
    main()
