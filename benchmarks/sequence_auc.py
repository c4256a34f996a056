"""Validation AUC of aitm against mmoe and shared_bottom on sequential conversion data.

The funnel generator (:mod:`automtl.data.funnel`): impressions with 20 features, 20% click and
25% of clicks purchase (so 5% of impressions), a purchase only after a click; score noise
``--noise``. Each model trains with equal weighting and the Trainer (early stopping on the
validation objective, best epoch restored) on the same data and seed; ``aitm`` runs with the
job's ``sequence: [click, purchase]`` and with its calibrator off (weight 0) too. The table
reports each task's validation AUC (mean and standard deviation over seeds, a new dataset per
seed) and the mean paired difference to mmoe on the same data.

    python -m benchmarks.sequence_auc              # 20k rows, 8 epochs, 3 seeds, noise 0.5
    python -m benchmarks.sequence_auc --noise 2.0  # a noisier funnel
    python -m benchmarks.sequence_auc --quick      # a smoke run
"""

from __future__ import annotations

import statistics
from typing import Any

import torch

from automtl.config import ModelConfig, TrainConfig, WeightingConfig
from automtl.data import TabularDataset
from automtl.data.funnel import funnel_tasks, make_funnel
from automtl.models.registry import build_model
from automtl.training import Trainer
from automtl.weighting import build_weighting
from benchmarks.common import base_parser, machine_line, resolve_device, setup_threads, write_table

SEQUENCE = ["click", "purchase"]
#: (row label, topology, sizes); towers are [32] for all
MODELS: list[tuple[str, str, dict[str, Any]]] = [
    ("mmoe", "mmoe", dict(num_shared_experts=4, expert_units=[64])),
    ("shared_bottom", "shared_bottom", dict(bottom_units=[64])),
    ("aitm", "aitm", dict(bottom_units=[64])),
    ("aitm, calibrator 0", "aitm", dict(bottom_units=[64], calibrator_weight=0.0)),
]


def run(data: TabularDataset, topology: str, sizes: dict[str, Any], seed: int, epochs: int,
        device: torch.device) -> tuple[int, dict[str, float]]:
    """Parameters and ``{task: valid AUC}`` of one trained model."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig(topology=topology, inputs=data.schema, tasks=data.tasks,
                                    sequence=SEQUENCE, tower_units=[32], **sizes))
    trainer = Trainer(model, build_weighting(WeightingConfig(), data.tasks),
                      TrainConfig(epochs=epochs, batch_size=512, lr=3e-3, seed=seed,
                                  early_stopping_patience=2), device)
    result = trainer.fit(data.train, data.valid, data.tasks)
    return model.num_parameters(), {t: result.valid_metrics[t]["auc"] for t in SEQUENCE}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the table; returns its rows."""
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.5, help="score noise (std)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.epochs, args.seeds = 1000, 1, 2
    setup_threads(args.threads)
    device = resolve_device(args.device)
    auc: dict[str, dict[str, list[float]]] = {m: {t: [] for t in SEQUENCE} for m, _, _ in MODELS}
    params: dict[str, int] = {}
    for seed in range(args.seed, args.seed + args.seeds):
        frame = make_funnel(rows=args.rows, features=20, noise=args.noise, seed=seed)
        data = TabularDataset(frame, funnel_tasks(), valid_fraction=0.2, test_fraction=0.0,
                              seed=seed)
        for label, topology, sizes in MODELS:
            params[label], values = run(data, topology, sizes, seed, args.epochs, device)
            for task in SEQUENCE:
                auc[label][task].append(values[task])
    rows = []
    for label, _, _ in MODELS:
        row: dict[str, Any] = {"model": label, "params": params[label]}
        for task in SEQUENCE:
            values = auc[label][task]
            row[f"{task} AUC"] = round(statistics.mean(values), 4)
            row[f"{task} sd"] = round(statistics.stdev(values) if len(values) > 1 else 0.0, 4)
            paired = [a - b for a, b in zip(values, auc["mmoe"][task], strict=True)]
            row[f"{task} - mmoe"] = round(statistics.mean(paired), 4)
        rows.append(row)
    notes = [f"{args.rows} impressions x 20 features, noise {args.noise}, {args.epochs} epochs "
             f"(early stopping, patience 2), {args.seeds} seeds (a new dataset each); valid AUC",
             "`- mmoe`: mean over seeds of the difference to mmoe on the same data"]
    write_table(rows, args.out, "sequence_auc", "aitm on sequential conversions",
                machine_line(device), notes)
    return rows


if __name__ == "__main__":
    main()
