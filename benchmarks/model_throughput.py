"""Parameter count and training throughput of every registered topology.

One training step is forward + per-task losses + backward + an Adam step on a batch of random
rows (default 1024 rows, 20 standardised numeric features, one binary and one regression task;
aitm, which needs a conversion sequence, gets a purchase step after click; default
architecture sizes, CPU). Throughput is rows per second over the timed steps; the best
of ``--repeats`` runs is kept, since other processes sharing the cores only ever slow a run.

    python -m benchmarks.model_throughput
    python -m benchmarks.model_throughput --threads 1 --steps 20 --categorical 4
    python -m benchmarks.model_throughput --domains --rows 20000 --epochs 5 --seeds 2

``star`` reads each row's domain: its throughput row adds a 3-value domain column to the inputs.
``--domains`` prints, instead of the throughput table, the per-domain validation AUC of star,
mmoe, ple and shared_bottom on the synthetic multi-domain data
(:mod:`automtl.data.multi_domain`; see :func:`domain_auc_table`).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any

import torch
import torch.nn.functional as F

from automtl.config import (
    CategoricalFeature,
    DomainSpec,
    InputSchema,
    ModelConfig,
    NumericFeature,
    TaskSpec,
)
from automtl.models import MTLModel, available_topologies, build_model, get_topology

TASKS = [TaskSpec(name="click"), TaskSpec(name="watch_time", type="regression")]
#: for topologies that need a conversion sequence (aitm): a purchase step after click
SEQUENCE_TASKS = [TaskSpec(name="click"), TaskSpec(name="purchase"),
                  TaskSpec(name="watch_time", type="regression")]
SEQUENCE = ["click", "purchase"]
#: rows besides each topology's defaults: PLE's default (levels=1) is CGC
EXTRA_ROWS: list[tuple[str, str, dict[str, Any]]] = [("ple levels=2", "ple", {"levels": 2})]


def make_schema(numeric: int, categorical: int, vocabulary: int) -> InputSchema:
    return InputSchema(
        numeric=[NumericFeature(name=f"x{i}") for i in range(numeric)],
        categorical=[CategoricalFeature(name=f"c{i}", vocabulary=[str(v) for v in
                                                                  range(vocabulary)])
                     for i in range(categorical)])


def train_step(model: MTLModel, optimizer: torch.optim.Optimizer, numeric: torch.Tensor,
               categorical: torch.Tensor, labels: dict[str, torch.Tensor]) -> None:
    outputs = model(numeric, categorical)
    loss = sum(F.mse_loss(outputs[name], labels[name]) if name == "watch_time"
               else F.binary_cross_entropy_with_logits(outputs[name], labels[name])
               for name in outputs)
    penalty = model.l0_penalty()
    if penalty is not None:
        loss = loss + 1e-4 * penalty
    regulariser = model.output_penalty(outputs)
    if regulariser is not None:
        loss = loss + regulariser
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def measure(model: MTLModel, schema: InputSchema, batch_size: int, steps: int, warmup: int,
            repeats: int) -> float:
    """Best rows/s over ``repeats`` runs of ``steps`` timed training steps."""
    gen = torch.Generator().manual_seed(0)
    numeric = torch.randn(batch_size, len(schema.numeric), generator=gen)
    categorical = torch.stack([torch.randint(0, f.cardinality, (batch_size,), generator=gen)
                               for f in schema.categorical], dim=1) if schema.categorical \
        else torch.zeros(batch_size, 0, dtype=torch.long)
    click = torch.randint(0, 2, (batch_size,), generator=gen).float()
    labels = {"click": click,
              "purchase": click * torch.randint(0, 2, (batch_size,), generator=gen).float(),
              "watch_time": torch.randn(batch_size, generator=gen)}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(warmup):
        train_step(model, optimizer, numeric, categorical, labels)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            train_step(model, optimizer, numeric, categorical, labels)
        best = max(best, steps * batch_size / (time.perf_counter() - start))
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--numeric", type=int, default=20, help="numeric features")
    parser.add_argument("--categorical", type=int, default=0, help="categorical features")
    parser.add_argument("--vocabulary", type=int, default=100, help="categories per feature")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per repeat")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (default: torch's choice)")
    add_domain_arguments(parser)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.domains:
        domain_auc_table(args)
        return
    schema = make_schema(args.numeric, args.categorical, args.vocabulary)
    rows = [(name, name, {}) for name in available_topologies()] + EXTRA_ROWS

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; batch "
          f"{args.batch_size}, {args.numeric} numeric + {args.categorical} categorical "
          f"features, tasks {[t.name for t in TASKS]}")
    print(f"| {'topology':<14} | {'parameters':>10} | {'train rows/s':>12} | {'ms/step':>8} |")
    print(f"|{'-' * 16}|{'-' * 11}:|{'-' * 13}:|{'-' * 9}:|")
    for label, topology, overrides in rows:
        torch.manual_seed(0)
        tasks, sequence = TASKS, None
        if "sequence" in get_topology(topology).job_fields:
            tasks, sequence = SEQUENCE_TASKS, SEQUENCE
            label = f"{label} (+purchase)"
        inputs = with_domain(schema) if get_topology(topology).Params.needs_domains else schema
        model = build_model(ModelConfig(topology=topology, inputs=inputs, tasks=tasks,
                                        sequence=sequence, **overrides))
        rate = measure(model, inputs, args.batch_size, args.steps, args.warmup, args.repeats)
        print(f"| {label:<14} | {model.num_parameters():>10,} | {rate:>12,.0f} | "
              f"{1000 * args.batch_size / rate:>8.2f} |", flush=True)



# --- per-domain AUC on the multi-domain generator (--domains) ----------------------------------

#: the topologies the per-domain table compares (issue 17)
DOMAIN_TOPOLOGIES = ("star", "mmoe", "ple", "shared_bottom")


def with_domain(schema: InputSchema, domains: int = 3) -> InputSchema:
    """``schema`` plus a categorical domain column of ``domains`` values (for ``star``)."""
    values = [f"d{k}" for k in range(domains)]
    return InputSchema(numeric=schema.numeric,
                       categorical=[*schema.categorical,
                                    CategoricalFeature(name="domain", vocabulary=values)],
                       domain=DomainSpec(column="domain", values=values))


def add_domain_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("per-domain AUC (--domains)")
    group.add_argument("--domains", action="store_true",
                       help="print per-domain valid AUC on the multi-domain generator instead")
    group.add_argument("--rows", type=int, default=20000, help="generated rows")
    group.add_argument("--features", type=int, default=20, help="generated features")
    group.add_argument("--shift", type=float, default=0.5, help="domains' label shift s")
    group.add_argument("--epochs", type=int, default=5)
    group.add_argument("--seeds", type=int, default=1, help="training seeds averaged")


def domain_auc_table(args: argparse.Namespace) -> None:
    """Per-domain validation AUC (mean over ``--seeds`` training seeds) of each topology of
    :data:`DOMAIN_TOPOLOGIES`, default sizes, equal weighting, Adam lr 1e-3, batch 256, on
    :func:`~automtl.data.make_multi_domain` data (2 binary tasks, 3 domains, d2 with 10% of the
    rows; split 80/10/10 with seed 0). The last column is the mean over tasks and domains."""
    from automtl.config import TrainConfig, WeightingConfig
    from automtl.data import TabularDataset, make_multi_domain, multi_domain_spec
    from automtl.data.synthetic import synthetic_tasks
    from automtl.training import Trainer
    from automtl.weighting import build_weighting

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
        print(f"| {topology} | {model.num_parameters():,} | "
              + " | ".join(f"{m:.4f}" for m in means)
              + f" | {sum(means) / len(means):.4f} | {time.perf_counter() - started:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
