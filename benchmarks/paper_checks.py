"""Does each model and weighting behave as its paper says? Seeded runs with 95% intervals.

Sections (``--sections``, all by default):

- ``correlation``: the MMoE paper's synthetic set-up (Ma et al. KDD 2018, section 3.2 and
  figure 4): two regression tasks of d = 100 features whose correlation falls 1.0 -> 0.5 ->
  0.0, labels standardised with their exact moments (so an MSE is a share of the label
  variance, comparable across seeds); shared-bottom (one hidden layer sized to the MMoE's
  parameter count), OMoE and MMoE (8 experts of 16 units, towers of 8). The paper's claim:
  MMoE's advantage over shared-bottom grows as the correlation falls. Printed: test MSE (mean
  of the two tasks) per model, the gap shared-bottom - MMoE (absolute and relative), the gap's
  change from correlation 1.0 paired by seed (same weights' basis, sines, inputs and
  initialisation), the transfer to task 1 (y1's test MSE of shared-bottom and of MMoE minus
  that of the same shared bottom trained on y1 alone: positive = negative transfer, the room
  MMoE has to win), how differently the two MMoE gates mix the experts, each with a 95% t
  interval over seeds, and whether the ordering reproduced.
- ``snr``: SNR-Trans sparsity (share of closed connections) and validation AUC over the L0
  weight lambda (Ma et al. AAAI 2019; Louizos et al. ICLR 2018), lambda = 0 the reference.
- ``peers``: validation AUC of automtl's MMoE and PLE (normalization none and batch) next to
  DeepCTR-Torch's and torch-rechub's after 1, 3 and 10 epochs, same sizes, data, optimiser
  (:mod:`benchmarks.peers`); the peers are skipped with a note when not installed.
- ``cross_stitch``: cross-stitch (Misra et al. CVPR 2016) with one input layer shared by the
  columns (before) and with an input layer per column as in the paper (after).
- ``uncertainty``: uncertainty weighting (Kendall et al. CVPR 2018) with the regression form
  for every task (``uniform``) against the paper's classification form for the binary task
  (``paper``), on one binary and one regression task.

    python -m benchmarks.paper_checks                  # a few minutes on an idle 2-core CPU
    python -m benchmarks.paper_checks --quick          # smoke run (seconds)
    python -m benchmarks.paper_checks --sections correlation --correlation-seeds 40 --epochs 8
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from automtl.config import (
    ArchitectureConfig,
    ModelConfig,
    TaskSpec,
    TrainConfig,
    WeightingConfig,
)
from automtl.data import SplitTensors, TabularDataset, make_synthetic, synthetic_tasks
from automtl.models import MTLModel, build_model
from automtl.training import Trainer
from automtl.training.result import TrainResult
from automtl.weighting import build_weighting
from benchmarks.common import (
    TASKS,
    base_parser,
    machine_line,
    resolve_device,
    setup_threads,
    synthetic_categorical,
    synthetic_dense,
    write_table,
)

SECTIONS = ("correlation", "snr", "peers", "cross_stitch", "uncertainty")
CORRELATIONS = (1.0, 0.5, 0.0)
CORRELATION_MODELS = ("shared_bottom", "omoe", "mmoe")
#: models whose y1 test MSE is compared with a shared bottom trained on y1 alone (the transfer)
TRANSFER_MODELS = ("shared_bottom", "mmoe")
TRANSFER_LABELS = {"shared_bottom": "sb", "mmoe": "mmoe"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--seeds", type=int, default=3, help="seeds per configuration")
    parser.add_argument("--rows", type=int, default=10_000,
                        help="rows of the correlation / snr / uncertainty data "
                             "(default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=4,
                        help="epochs of the correlation sweep (default: %(default)s)")
    parser.add_argument("--correlation-rows", type=int, default=30_000,
                        help="rows of the correlation sweep's data (default: %(default)s)")
    parser.add_argument("--correlation-seeds", type=int, default=20,
                        help="seeds per correlation (default: %(default)s)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="the paper's c, the norm of the task weights (default: "
                             "%(default)s)")
    parser.add_argument("--lr", type=float, default=3e-3,
                        help="Adam's learning rate in the correlation sweep: at 1e-3 an MMoE "
                             "run now and then still sits on a plateau after 4 epochs "
                             "(default: %(default)s)")
    parser.add_argument("--peer-rows", type=int, default=10_000)
    parser.add_argument("--peer-epochs", type=int, nargs="+", default=[1, 3, 10])
    parser.add_argument("--peer-seeds", type=int, default=1,
                        help="seeds of the peers section, each its own data and initial "
                             "weights (default: %(default)s)")
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 0.1, 0.3, 1.0])
    # one thread: steady on a shared machine, and what a search trial gets
    parser.set_defaults(threads=1)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be >= 1")
    if args.peer_seeds < 1:
        parser.error("--peer-seeds must be >= 1")
    if args.correlation_seeds < 2:
        parser.error("--correlation-seeds must be >= 2 (an interval needs two)")
    if args.quick:
        args.seeds, args.rows, args.epochs = 2, min(args.rows, 600), 1
        args.correlation_seeds, args.correlation_rows = 2, min(args.correlation_rows, 600)
        args.peer_rows, args.peer_epochs = min(args.peer_rows, 1000), [1]
        args.lambdas = [0.0, 0.3]
    return args


# ----------------------------------------------------------------------------------- helpers

def mean_interval(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% Student-t interval (NaN for a single value)."""
    from scipy import stats

    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    mean = statistics.fmean(finite)
    if len(finite) < 2:
        return mean, math.nan
    half = stats.t.ppf(0.975, len(finite) - 1) * statistics.stdev(finite) / math.sqrt(len(finite))
    return mean, float(half)


def fmt(values: Sequence[float], digits: int = 4) -> str:
    """``"mean ± half-width"`` of the 95% interval."""
    mean, half = mean_interval(values)
    if math.isnan(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


@dataclass
class Run:
    model: MTLModel
    result: TrainResult


def train(data: TabularDataset, tasks: list[TaskSpec], architecture: ArchitectureConfig,
          config: TrainConfig, device: torch.device,
          weighting: WeightingConfig | None = None) -> Run:
    """Build, train (every epoch, early stopping off) and evaluate one model."""
    torch.manual_seed(config.seed)
    model = build_model(ModelConfig.from_parts(architecture, data.schema, tasks))
    strategy = build_weighting(weighting or WeightingConfig(name="equal"), tasks,
                               seed=config.seed)
    result = Trainer(model, strategy, config, device).fit(data.train, data.valid, tasks,
                                                          test=data.test)
    return Run(model, result)


def mean_metric(metrics: dict[str, dict[str, float]], metric: str) -> float:
    return statistics.fmean(values[metric] for values in metrics.values())


# ------------------------------------------------------------------------ MMoE correlation

def correlation_architectures(features: int) -> dict[str, ArchitectureConfig]:
    """The MMoE paper's sizes: 8 experts of 16 units, towers of 8, linear gates; the shared
    bottom is one hidden layer with as many parameters as the MMoE (or just fewer)."""
    experts, expert_units, tower = 8, 16, 8
    moe = dict(num_shared_experts=experts, expert_units=[expert_units], tower_units=[tower],
               gate_kind="linear")
    mmoe_params = (experts * (features * expert_units + expert_units)
                   + 2 * (features * experts + experts)
                   + 2 * (expert_units * tower + 2 * tower + 1))
    # shared bottom of width h: features*h + h + 2 * (h*tower + tower + tower + 1)
    width = (mmoe_params - 2 * (2 * tower + 1)) // (features + 1 + 2 * tower)
    return {"shared_bottom": ArchitectureConfig(topology="shared_bottom", bottom_units=[width],
                                                tower_units=[tower]),
            "omoe": ArchitectureConfig(topology="omoe", **moe),
            "mmoe": ArchitectureConfig(topology="mmoe", **moe)}


def gate_difference(model: MTLModel, split: SplitTensors, device: torch.device) -> float:
    """Total-variation distance (0..1) between the two tasks' mean gate weights on ``split``:
    0 when both gates mix the experts alike, 1 when they use disjoint experts."""
    model.eval()
    with torch.no_grad():
        gates = list(model.gate_weights(split.numeric.to(device),
                                        split.categorical.to(device)).values())
    if len(gates) != 2:
        return math.nan
    return 0.5 * float((gates[0].mean(0) - gates[1].mean(0)).abs().sum())


def correlation_sweep(args: argparse.Namespace, device: torch.device
                      ) -> tuple[list[dict[str, Any]], list[str]]:
    features = 100
    architectures = correlation_architectures(features)
    tasks = synthetic_tasks(binary=False)
    seeds = range(args.seed, args.seed + args.correlation_seeds)
    mse: dict[float, dict[str, list[float]]] = {}
    transfer: dict[float, dict[str, list[float]]] = {}
    label_corr: dict[float, list[float]] = {}
    gates: dict[float, list[float]] = {}
    params: dict[str, int] = {}
    alone: dict[int, float] = {}  # y1's test MSE of a shared bottom trained on y1 alone
    for correlation in CORRELATIONS:
        mse[correlation] = {name: [] for name in CORRELATION_MODELS}
        transfer[correlation] = {name: [] for name in TRANSFER_MODELS}
        label_corr[correlation], gates[correlation] = [], []
        for seed in seeds:
            frame = make_synthetic(rows=args.correlation_rows, features=features,
                                   correlation=correlation, scale=args.scale, seed=seed,
                                   standardize=True)
            data = TabularDataset(frame, tasks, valid_fraction=0.1, test_fraction=0.1,
                                  seed=seed)
            test_split = data.test
            assert test_split is not None  # test_fraction > 0
            labels = test_split.labels.double().numpy()
            label_corr[correlation].append(float(np.corrcoef(labels[:, 0], labels[:, 1])[0, 1]))
            config = TrainConfig(lr=args.lr, batch_size=128, epochs=args.epochs,
                                 early_stopping_patience=0, seed=seed)
            if seed not in alone:  # y1 (w1 = c·u1) is the same frame column at every p
                single = TabularDataset(frame, tasks[:1], valid_fraction=0.1,
                                        test_fraction=0.1, seed=seed)
                run = train(single, tasks[:1], architectures["shared_bottom"], config, device)
                alone[seed] = (run.result.test_metrics or {})["y1"]["mse"]
            for name in CORRELATION_MODELS:
                run = train(data, tasks, architectures[name], config, device)
                test = run.result.test_metrics or {}
                mse[correlation][name].append(mean_metric(test, "mse"))
                if name in TRANSFER_MODELS:
                    transfer[correlation][name].append(test["y1"]["mse"] - alone[seed])
                params[name] = run.model.num_parameters()
                if name == "mmoe":
                    gates[correlation].append(gate_difference(run.model, test_split, device))

    def gaps(correlation: float) -> list[float]:
        cell = mse[correlation]
        return [sb - mm for sb, mm in zip(cell["shared_bottom"], cell["mmoe"], strict=True)]

    rows: list[dict[str, Any]] = []
    for correlation in CORRELATIONS:
        cell = mse[correlation]
        row: dict[str, Any] = {"correlation": correlation,
                               "label corr": fmt(label_corr[correlation], 3)}
        for name in CORRELATION_MODELS:
            row[f"{name} test MSE"] = fmt(cell[name])
        row["sb - mmoe"] = fmt(gaps(correlation))
        row["(sb - mmoe) / sb %"] = fmt([100 * (sb - mm) / sb for sb, mm in zip(
            cell["shared_bottom"], cell["mmoe"], strict=True)], 1)
        row["gap - gap at 1.0"] = fmt([g - g1 for g, g1 in zip(
            gaps(correlation), gaps(CORRELATIONS[0]), strict=True)])
        for name in TRANSFER_MODELS:
            row[f"{TRANSFER_LABELS[name]} y1 - sb on y1 alone"] = fmt(transfer[correlation][name])
        row["mmoe gates differ"] = fmt(gates[correlation], 3)
        row["params sb/omoe/mmoe"] = "/".join(str(params[n]) for n in CORRELATION_MODELS)
        rows.append(row)
    return rows, [ordering_verdict({c: gaps(c) for c in CORRELATIONS})]


def ordering_verdict(gaps: dict[float, list[float]]) -> str:
    """Whether MMoE's advantage grew as the correlation fell: the mean gaps rise from the
    highest to the lowest correlation and the paired rise lowest - highest has a 95% interval
    above 0."""
    order = sorted(gaps, reverse=True)
    means = [statistics.fmean(gaps[c]) for c in order]
    rise, half = mean_interval([low - high for low, high
                                in zip(gaps[order[-1]], gaps[order[0]], strict=True)])
    monotone = all(a < b for a, b in itertools.pairwise(means))
    reproduced = monotone and rise - half > 0
    return (f"ordering {'REPRODUCED' if reproduced else 'NOT reproduced'}: mean gap sb - mmoe "
            + " -> ".join(f"{m:+.4f} (corr {c:g})" for c, m in zip(order, means, strict=True))
            + f"; paired rise from corr {order[0]:g} to {order[-1]:g}: {rise:+.4f} ± {half:.4f}")


# -------------------------------------------------------------------------------- SNR sparsity

def snr_sweep(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    architecture = ArchitectureConfig(topology="snr_trans", expert_units=[32], tower_units=[16])
    by_lambda: dict[float, dict[str, list[float]]] = {
        lam: {"auc": [], "sparsity": [], "effective": [], "drop": []} for lam in args.lambdas}
    for seed in range(args.seed, args.seed + args.seeds):
        data = synthetic_dense(args.rows * 2, features=20, seed=seed).data
        reference = math.nan
        for lam in sorted(args.lambdas):
            config = TrainConfig(lr=3e-3, batch_size=256, epochs=3, l0_lambda=lam,
                                 early_stopping_patience=0, seed=seed)
            run = train(data, TASKS, architecture, config, device)
            auc = mean_metric(run.result.valid_metrics, "auc")
            if lam == 0.0:
                reference = auc
            cell = by_lambda[lam]
            cell["auc"].append(auc)
            cell["sparsity"].append(run.model.sparsity() or 0.0)
            cell["effective"].append(run.model.effective_parameters()
                                     / run.model.num_parameters())
            cell["drop"].append(reference - auc)
    return [{"l0_lambda": lam, "valid AUC": fmt(cell["auc"]),
             "AUC drop vs lambda 0": fmt(cell["drop"]),
             "closed connections": fmt(cell["sparsity"], 3),
             "effective / all params": fmt(cell["effective"], 3)}
            for lam, cell in sorted(by_lambda.items())]


# ----------------------------------------------------------------------------- peers per epoch

def peer_epochs(args: argparse.Namespace, device: torch.device
                ) -> tuple[list[dict[str, Any]], list[str]]:
    from benchmarks.peers import PEERS, TRAINERS, missing_peer
    from benchmarks.runs import ModelSizes

    sizes, notes = ModelSizes(), []
    peers = []
    for tool in PEERS:
        reason = missing_peer(tool)
        if reason:
            notes.append(f"{tool} skipped: {reason}")
        else:
            peers.append(tool)
    seeds = range(args.seed, args.seed + args.peer_seeds)
    rows: list[dict[str, Any]] = []
    for dataset in ("synthetic", "categorical"):
        choices = {seed: synthetic_dense(args.peer_rows, seed=seed) if dataset == "synthetic"
                   else synthetic_categorical(args.peer_rows, seed=seed) for seed in seeds}
        for topology in ("mmoe", "ple"):
            # automtl: one run per normalisation and seed, read after each epoch count
            ours: dict[tuple[str, int], TrainResult] = {}
            for normalization, seed in itertools.product(("none", "batch"), seeds):
                architecture = sizes.architecture(topology).model_copy(
                    update={"normalization": normalization})
                config = TrainConfig(lr=1e-3, batch_size=512, epochs=max(args.peer_epochs),
                                     early_stopping_patience=0, seed=seed)
                ours[normalization, seed] = train(choices[seed].data, TASKS, architecture,
                                                  config, device).result
            for epochs in args.peer_epochs:
                row: dict[str, Any] = {"dataset": dataset, "model": topology, "epochs": epochs}
                aucs: dict[str, list[float]] = {}
                for (normalization, _), result in ours.items():
                    aucs.setdefault(f"automtl {normalization}", []).append(mean_metric(
                        result.history[epochs - 1].valid_metrics, "auc"))
                for tool in peers:  # the peers report only after their last epoch
                    aucs[tool] = [TRAINERS[tool](choices[seed].data, topology, sizes, 512,
                                                 epochs, 1e-3, device, seed).mean_auc
                                  for seed in seeds]
                row.update({name: statistics.fmean(values) for name, values in aucs.items()})
                # paired by seed (same data and initial weights): the interval of the change
                row["batch - none"] = fmt([b - n for b, n in zip(
                    aucs["automtl batch"], aucs["automtl none"], strict=True)])
                for tool in peers:
                    row[f"batch - {tool}"] = fmt([b - p for b, p in zip(
                        aucs["automtl batch"], aucs[tool], strict=True)])
                row["best automtl - best peer"] = (
                    max(row["automtl none"], row["automtl batch"])
                    - max((row[t] for t in peers), default=math.nan))
                rows.append(row)
    notes.append("validation AUC (mean of the two tasks) after the given epoch (not a restored "
                 f"best epoch), mean over seeds {seeds.start}..{seeds.stop - 1} (each seed its "
                 "own data and initial weights; differences paired by seed, 95% Student t "
                 "interval when there are 2 or more); batch 512, Adam lr 1e-3, sizes of "
                 "benchmarks.runs.ModelSizes")
    return rows, notes


# ----------------------------------------------------------------------------- cross-stitch

def cross_stitch(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    results: dict[bool, dict[str, list[float]]] = {
        share: {"auc": [], "params": []} for share in (True, False)}
    for seed in range(args.seed, args.seed + args.seeds):
        data = synthetic_categorical(args.rows * 2, seed=seed).data
        for share in (True, False):
            architecture = ArchitectureConfig(topology="cross_stitch", bottom_units=[64, 32],
                                              tower_units=[16],
                                              cross_stitch={"share_embeddings": share})
            config = TrainConfig(lr=1e-3, batch_size=256, epochs=3, early_stopping_patience=0,
                                 seed=seed)
            run = train(data, TASKS, architecture, config, device)
            results[share]["auc"].append(mean_metric(run.result.test_metrics or {}, "auc"))
            results[share]["params"].append(run.model.num_parameters())
    paired = [after - before for after, before
              in zip(results[False]["auc"], results[True]["auc"], strict=True)]
    return [{"input layer": "shared (before)" if share else "per column (paper, after)",
             "test AUC": fmt(cell["auc"]), "params": int(cell["params"][0]),
             "AUC - shared, same seed": fmt([0.0] * len(paired) if share else paired)}
            for share, cell in results.items()]


# ------------------------------------------------------------------------------ uncertainty

def mixed_tasks_data(rows: int, seed: int) -> tuple[TabularDataset, list[TaskSpec]]:
    """The MMoE recipe (20 features) with ``y1`` binary (above its median) and ``y2``
    regression: with two binary tasks the two uncertainty forms differ only by a common
    factor 2 on every weight, which Adam's scale invariance removes."""
    frame = make_synthetic(rows=rows, features=20, correlation=0.5, seed=seed)
    frame["y1"] = (frame["y1"] > frame["y1"].median()).astype(float)
    tasks = [TaskSpec(name="y1", type="binary"), TaskSpec(name="y2", type="regression")]
    return TabularDataset(frame, tasks, valid_fraction=0.1, test_fraction=0.1, seed=seed), tasks


def uncertainty_forms(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    results: dict[str, dict[str, list[float]]] = {
        form: {"auc": [], "mse": [], "w1": [], "w2": []} for form in ("uniform", "paper")}
    for seed in range(args.seed, args.seed + args.seeds):
        data, tasks = mixed_tasks_data(args.rows * 2, seed)
        for form in results:
            config = TrainConfig(lr=1e-3, batch_size=256, epochs=3, early_stopping_patience=0,
                                 seed=seed)
            run = train(data, tasks, ArchitectureConfig(topology="mmoe"), config, device,
                        WeightingConfig(name="uncertainty", params={"form": form}))
            test = run.result.test_metrics or {}
            results[form]["auc"].append(test["y1"]["auc"])
            results[form]["mse"].append(test["y2"]["mse"])
            weights = run.result.history[-1].weights
            results[form]["w1"].append(weights["y1"])
            results[form]["w2"].append(weights["y2"])
    return [{"form": form, "y1 (binary) test AUC": fmt(cell["auc"]),
             "y2 (regression) test MSE": fmt(cell["mse"]),
             "last-epoch weight y1": fmt(cell["w1"], 3),
             "last-epoch weight y2": fmt(cell["w2"], 3)}
            for form, cell in results.items()]


# --------------------------------------------------------------------------------------- main

TITLES = {
    "correlation": "MMoE paper: test MSE by task correlation (lower is better)",
    "snr": "SNR-Trans: closed connections and AUC over the L0 weight",
    "peers": "Validation AUC at equal epochs: automtl vs DeepCTR-Torch and torch-rechub",
    "cross_stitch": "Cross-stitch: shared input layer vs one per column",
    "uncertainty": "Uncertainty weighting: uniform (eq. 7) vs paper (eq. 10 for binary tasks)",
}


def main(argv: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    args = parse_args(argv)
    setup_threads(args.threads)
    device = resolve_device(args.device)
    machine = machine_line(device)
    seeds = f"seeds {args.seed}..{args.seed + args.seeds - 1}; intervals: 95% Student t"
    runners: dict[str, Callable[[argparse.Namespace, torch.device], Any]] = {
        "correlation": correlation_sweep, "snr": snr_sweep, "peers": peer_epochs,
        "cross_stitch": cross_stitch, "uncertainty": uncertainty_forms}
    details = {
        "correlation": f"{args.correlation_rows} rows (80/10/10), d = 100, c = {args.scale}, "
                       f"labels standardised (MSE = share of label variance), {args.epochs} "
                       f"epochs, batch 128, Adam lr {args.lr}, equal weights, best-valid epoch "
                       f"restored; seeds {args.seed}..{args.seed + args.correlation_seeds - 1}; "
                       "intervals: 95% Student t",
        "snr": f"{args.rows * 2} rows, 20 features, 2 binary tasks; 2 layers of 3 sub-networks "
               f"of 32 units; 3 epochs, batch 256, lr 3e-3; {seeds}",
        "cross_stitch": f"{args.rows * 2} rows, 13 numeric + 26 categorical features; bottom "
                        f"[64, 32]; 3 epochs, batch 256, lr 1e-3; {seeds}",
        "uncertainty": f"{args.rows * 2} rows, 20 features, y1 binary + y2 regression; MMoE "
                       f"defaults; "
                       f"3 epochs, batch 256, lr 1e-3; {seeds}",
        "peers": f"{args.peer_rows} rows per dataset, {args.peer_seeds} seed(s)",
    }
    tables: dict[str, list[dict[str, Any]]] = {}
    for section in args.sections:
        output = runners[section](args, device)
        rows, notes = output if isinstance(output, tuple) else (output, [])
        write_table(rows, args.out, f"paper_checks_{section}", TITLES[section], machine,
                    notes=[details[section], *notes])
        tables[section] = rows
    return tables


if __name__ == "__main__":
    main()
