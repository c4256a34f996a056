"""Parameters, training throughput and validation AUC of every registered topology.

The per-topology table: each registered topology with its default sizes (plus the rows of
``EXTRA_ROWS``) is built for the MMoE paper's synthetic data (Ma et al. KDD 2018, section
3.2; two binary tasks, task correlation 0.5, 100 numeric features by default) and measured
three ways:

- parameters: the model's trainable parameters;
- train rows/s: timed training steps (forward, both tasks' losses plus the model's own penalty,
  backward, an Adam step) on consecutive batches of the training split; the best of
  ``--repeats`` runs of ``--steps`` steps is kept, since other processes sharing the cores only
  ever slow a run;
- valid AUC: the mean validation AUC of the two tasks after ``--epochs`` epochs of the Trainer
  (equal weighting, Adam, no early stopping; the best epoch's weights, as a search trial keeps).

A topology that needs a conversion sequence (``aitm``) gets the two tasks as its sequence
(``y1 -> y2``). One that cannot be built from features and binary tasks alone (``star`` needs a
domain column) is listed under the table as skipped, with the reason, instead of failing the
run; ``--domains`` measures it where it belongs.

``--domains`` prints, instead, the per-domain validation AUC of star, mmoe, ple and
shared_bottom on the synthetic multi-domain data (:mod:`automtl.data.multi_domain`; ``--rows``,
``--features``, ``--epochs`` apply, see :func:`domain_auc_table`).

    python -m benchmarks.model_throughput                   # 20k rows, 3 epochs
    python -m benchmarks.model_throughput --quick           # a smoke run
    python -m benchmarks.model_throughput --topologies mmoe,adatt --threads 1
    python -m benchmarks.model_throughput --domains --features 20 --epochs 5 --seeds 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import torch
from pydantic import ValidationError

from automtl.config import ModelConfig, TrainConfig, WeightingConfig
from automtl.data import TabularDataset
from automtl.models import MTLModel, available_topologies, build_model, get_topology
from automtl.training import Trainer
from automtl.training.losses import task_losses
from automtl.weighting import build_weighting
from benchmarks.common import (
    base_parser,
    machine_line,
    resolve_device,
    setup_threads,
    synchronize,
    synthetic_dense,
    write_table,
)

#: rows besides each topology's defaults: PLE's default (levels=1) is CGC
EXTRA_ROWS: list[tuple[str, str, dict[str, Any]]] = [("ple levels=2", "ple", {"levels": 2})]
#: what building a topology from features and tasks alone raises when it needs more data
BUILD_ERRORS = (ValueError, TypeError, KeyError, ValidationError)


def topology_rows(names: list[str] | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, topology, settings) per table row: every registered topology (or ``names``)
    with its defaults, then the extra rows of the topologies included."""
    chosen = available_topologies() if names is None else names
    unknown = sorted(set(chosen) - set(available_topologies()))
    if unknown:
        raise SystemExit(f"--topologies: unknown {unknown}; valid: {available_topologies()}")
    return [(name, name, {}) for name in chosen] + \
        [row for row in EXTRA_ROWS if row[1] in chosen]


def build(topology: str, data: TabularDataset, settings: dict[str, Any], seed: int) -> MTLModel:
    """The network for ``data``'s inputs and tasks; raises one of :data:`BUILD_ERRORS` when the
    topology needs more than that."""
    torch.manual_seed(seed)
    sequence = None
    if "sequence" in get_topology(topology).job_fields:  # aitm: the tasks as its steps
        sequence = [t.name for t in data.tasks]
    return build_model(ModelConfig(topology=topology, inputs=data.schema, tasks=data.tasks,
                                   sequence=sequence, **settings))


def train_rows_per_second(model: MTLModel, data: TabularDataset, batch_size: int, steps: int,
                          warmup: int, repeats: int, device: torch.device) -> float:
    """Best rows/s over ``repeats`` runs of ``steps`` training steps, after ``warmup`` steps."""
    model.to(device).train()
    train = data.train.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    penalty_config = TrainConfig()
    batches = max(1, len(train) // batch_size)
    position = 0

    def step() -> None:
        nonlocal position
        start = (position % batches) * batch_size
        position += 1
        batch = train.slice(start, start + batch_size)
        outputs = model(batch.numeric, batch.categorical)
        loss = torch.stack(list(task_losses(outputs, batch, data.tasks).values())).sum()
        penalty = model.penalty(penalty_config)
        if penalty is not None:
            loss = loss + penalty
        regulariser = model.output_penalty(outputs)  # aitm's calibrator
        if regulariser is not None:
            loss = loss + regulariser
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    best = 0.0
    rows = min(batch_size, len(train))
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        for _ in range(steps):
            step()
        synchronize(device)
        best = max(best, steps * rows / (time.perf_counter() - started))
    return best


def valid_auc(model: MTLModel, data: TabularDataset, epochs: int, batch_size: int, lr: float,
              seed: int, device: torch.device) -> float:
    """Mean validation AUC of the tasks after ``epochs`` epochs (the best epoch restored)."""
    strategy = build_weighting(WeightingConfig(name="equal"), data.tasks, seed=seed)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr,
                         early_stopping_patience=0, seed=seed)
    result = Trainer(model, strategy, config, device).fit(data.train, data.valid, data.tasks)
    return statistics.mean(result.valid_metrics[t.name]["auc"] for t in data.tasks)


def topology_table(data: TabularDataset, rows: list[tuple[str, str, dict[str, Any]]],
                   args: Any, device: torch.device
                   ) -> tuple[list[dict[str, Any]], list[str]]:
    """The per-topology rows and the ``"topology: reason"`` of each skipped one."""
    table, skipped = [], []
    for label, topology, settings in rows:
        try:
            model = build(topology, data, settings, args.seed)
        except BUILD_ERRORS as exc:
            skipped.append(f"{label}: {str(exc).splitlines()[0]}")
            continue
        parameters = model.num_parameters()
        rate = train_rows_per_second(model, data, args.batch_size, args.steps, args.warmup,
                                     args.repeats, device)
        auc = valid_auc(build(topology, data, settings, args.seed), data, args.epochs,
                        args.batch_size, args.lr, args.seed, device)
        table.append({"topology": label, "parameters": parameters,
                      "train rows/s": round(rate), "ms/step": round(1000 * args.batch_size
                                                                   / rate, 2),
                      "valid AUC": round(auc, 4)})
        print(f"  {label}: {parameters} parameters, {rate:,.0f} rows/s, AUC {auc:.4f}",
              flush=True)
    return table, skipped


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the per-topology table (or, with ``--domains``, the per-domain one); returns its
    rows."""
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000, help="synthetic rows (all splits)")
    parser.add_argument("--features", type=int, default=100, help="numeric features")
    parser.add_argument("--correlation", type=float, default=0.5, help="task correlation")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs for the AUC")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per repeat")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--topologies", default=None,
                        help="comma-separated topologies (default: every registered one)")
    add_domain_arguments(parser)
    args = parser.parse_args(argv)
    if args.domains:
        setup_threads(args.threads)
        return domain_auc_table(args)
    if args.quick:
        args.rows, args.epochs, args.steps, args.warmup, args.repeats = 1000, 1, 3, 1, 1
    setup_threads(args.threads)
    device = resolve_device(args.device)
    choice = synthetic_dense(args.rows, features=args.features, correlation=args.correlation,
                             seed=args.seed)
    names = args.topologies.split(",") if args.topologies else None
    rows, skipped = topology_table(choice.data, topology_rows(names), args, device)
    notes = [f"data: {choice.description}; {len(choice.data.train)} train / "
             f"{len(choice.data.valid)} valid rows",
             "default sizes of each topology (its Params defaults; towers [32], embeddings 8)",
             f"train rows/s: best of {args.repeats} x {args.steps} training steps (forward, "
             f"losses + the model's penalty, backward, Adam) at batch {args.batch_size}",
             f"valid AUC: mean of both tasks after {args.epochs} epochs (equal weighting, adam "
             f"lr {args.lr}, batch {args.batch_size}, seed {args.seed}, best epoch restored)"]
    notes += [f"skipped (needs more than features and binary tasks): {s}" for s in skipped]
    write_table(rows, args.out, "model_throughput",
                "Every topology: parameters, training throughput and validation AUC",
                machine_line(device), notes=notes)
    return rows


# --- per-domain AUC on the multi-domain generator (--domains) ----------------------------------

#: the topologies the per-domain table compares (issue 17)
DOMAIN_TOPOLOGIES = ("star", "mmoe", "ple", "shared_bottom")


def add_domain_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("per-domain AUC (--domains; --rows, --features and "
                                      "--epochs apply too)")
    group.add_argument("--domains", action="store_true",
                       help="per-domain valid AUC on the multi-domain generator instead")
    group.add_argument("--shift", type=float, default=0.5, help="domains' label shift s")
    group.add_argument("--seeds", type=int, default=1, help="training seeds averaged")


def domain_auc_table(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Per-domain validation AUC (mean over ``--seeds`` training seeds) of each topology of
    :data:`DOMAIN_TOPOLOGIES`, default sizes, equal weighting, Adam lr 1e-3, batch 256, on
    :func:`~automtl.data.make_multi_domain` data (2 binary tasks, 3 domains, d2 with 10% of the
    rows; split 80/10/10 with seed 0). The last columns are the mean over tasks and domains
    and the seconds taken."""
    from automtl.data import make_multi_domain, multi_domain_spec
    from automtl.data.synthetic import synthetic_tasks

    frame = make_multi_domain(rows=args.rows, features=args.features, shift=args.shift)
    data = TabularDataset(frame, synthetic_tasks(binary=True), domains=multi_domain_spec())
    names = [t.name for t in data.tasks]
    valid_rows = {v: int(n) for v, n in
                  frame.iloc[data.split_rows["valid"]]["domain"].value_counts().items()}
    print(f"# multi-domain generator: {args.rows} rows ({len(data.train)} train, valid rows per "
          f"domain {dict(sorted(valid_rows.items()))}), {args.features} features, shift "
          f"{args.shift}; {args.epochs} epochs, {args.seeds} seed(s); valid AUC; "
          f"{torch.get_num_threads()} threads, load {os.getloadavg()[0]:.2f}")
    print("| topology | parameters | " + " | ".join(n.replace("__", " @ ") for n in names)
          + " | mean | s |")
    print("|---|---:|" + "---:|" * (len(names) + 2))
    table: list[dict[str, Any]] = []
    for topology in DOMAIN_TOPOLOGIES:
        per_task: dict[str, list[float]] = {n: [] for n in names}
        started = time.perf_counter()
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            model = build_model(ModelConfig(topology=topology, inputs=data.schema,
                                            tasks=data.tasks))
            train = TrainConfig(epochs=args.epochs, batch_size=256, lr=1e-3, seed=seed,
                                early_stopping_patience=0)
            trainer = Trainer(model, build_weighting(WeightingConfig(name="equal"), data.tasks),
                              train, "cpu")
            result = trainer.fit(data.train, data.valid, data.tasks)
            for name in names:
                per_task[name].append(result.valid_metrics[name]["auc"])
        means = [sum(v) / len(v) for v in per_task.values()]
        seconds = time.perf_counter() - started
        print(f"| {topology} | {model.num_parameters():,} | "
              + " | ".join(f"{m:.4f}" for m in means)
              + f" | {sum(means) / len(means):.4f} | {seconds:.0f} |", flush=True)
        table.append({"topology": topology, "parameters": model.num_parameters(),
                      **{n: round(m, 4) for n, m in zip(names, means, strict=True)},
                      "mean": round(sum(means) / len(means), 4)})
    return table


if __name__ == "__main__":
    main()
