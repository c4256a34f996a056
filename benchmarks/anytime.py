"""Anytime curves: hypervolume against cumulative training seconds, with and without MO-ASHA.

Methods: ``random``, ``tpe`` (full fidelity: every trial trains all its epochs), ``tpe+mo_asha``
and ``nsga2+mo_asha`` (automtl's MO-ASHA scheduler, ``automtl.search.mo_asha``, stops trials
dominated at rungs 1 and 3 epochs with eta 3), plus ``tpe (no coverage)`` for the per-topology
counts before the coverage startup. Every method starts with automtl's coverage trials (every
topology once) except that last one. Datasets: the synthetic MMoE recipe, and a generated
dataset with categorical columns and a rare second task (positive rate ~5%).

Trials run in-process through Optuna's ask/tell with automtl's trial function
(``automtl.search.trainable.run_trial``) and the same scheduler object Ray Tune uses (its
``decide`` on each epoch's report; a STOP ends the trial through ``StopTraining``), one study
per core; ``benchmarks.search_overhead`` measures what Ray adds. Training seconds are the sum
of the epochs' seconds as the trial reports them (pruned trials included). The hypervolume of
the complete trials' validation AUCs is taken against the fixed reference (0.5, 0.5).

Tables: ``anytime`` (per dataset and method, mean over seeds: final hypervolume, training
seconds, hypervolume at 1/3 and 2/3 of full-fidelity TPE's training seconds, and the seconds
needed to reach TPE's final hypervolume as a fraction of TPE's), ``anytime_topologies`` (trial
counts per topology in the whole run with and without coverage) and ``anytime_curves`` (the
raw curve points).

    python -m benchmarks.anytime
    python -m benchmarks.anytime --quick
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import available_cores, base_parser, machine_line, setup_threads, write_table
from benchmarks.search_setup import COMPACT_SPACE

METHODS: dict[str, dict[str, Any]] = {
    "random": {"sampler": "random", "asha": False, "coverage": True},
    "tpe": {"sampler": "tpe", "asha": False, "coverage": True},
    "tpe+mo_asha": {"sampler": "tpe", "asha": True, "coverage": True},
    "nsga2+mo_asha": {"sampler": "nsga2", "asha": True, "coverage": True},
    "tpe (no coverage)": {"sampler": "tpe", "asha": False, "coverage": False},
}
DATASETS = ("synthetic", "rare-categorical")
REFERENCE = [0.5, 0.5]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=1,
                        help="seeds per method (default 1 to stay under 10 minutes on 2 "
                             "cores; the issue's comparison is --seeds 3)")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--grace", type=int, default=1)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--workers", type=int, default=available_cores())
    parser.set_defaults(threads=1)
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.seeds, args.rows, args.epochs = 5, 1, 800, 3
    return args


def _write_dataset(kind: str, rows: int, root: Path, seed: int) -> dict[str, Any]:
    """The dataset spec (a file for the rare-task one, the builtin for synthetic)."""
    if kind == "synthetic":
        return {"builtin": "synthetic", "rows": rows, "features": 32, "correlation": 0.5,
                "seed": seed, "split": {"valid": 0.2, "test": 0.1}}
    from automtl.data import make_synthetic

    frame = make_synthetic(rows=rows, features=24, correlation=0.5, seed=seed, binary=False,
                           categorical=8, buckets=16)
    frame = frame.drop(columns=[f"x{i}" for i in range(8)])
    frame["y1"] = (frame["y1"] > frame["y1"].median()).astype(float)
    frame["y2"] = (frame["y2"] > frame["y2"].quantile(0.95)).astype(float)  # ~5% positives
    path = root / f"rare-{seed}.csv"
    frame.to_csv(path, index=False)
    numeric = [c for c in frame.columns if c.startswith("x")]
    categorical = [c for c in frame.columns if c.startswith("c")]
    return {"path": str(path), "features": {"numeric": numeric, "categorical": categorical},
            "split": {"valid": 0.2, "test": 0.1}}


def run_study(dataset: str, method: str, seed: int, args: dict[str, Any]) -> dict[str, Any]:
    """One study trial by trial; per trial its topology, state, values and training seconds."""
    import optuna

    import search_spaces
    from automtl.jobspec import load_job_spec
    from automtl.search.coverage import enqueue_coverage
    from automtl.search.datasets import load_dataset
    from automtl.search.mo_asha import MOASHAScheduler
    from automtl.search.samplers import make_sampler
    from automtl.search.trainable import KEY_TRAIN_TIME, TrialContext, run_trial
    from automtl.training.result import StopTraining

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = METHODS[method]
    space_doc = dict(COMPACT_SPACE, architecture=dict(COMPACT_SPACE["architecture"],
                                                      embedding_dim=4))
    with tempfile.TemporaryDirectory(prefix="automtl-anytime-") as root:
        spec = load_job_spec({
            "name": f"anytime-{seed}", "seed": seed,
            "dataset": _write_dataset(dataset, args["rows"], Path(root), seed),
            "tasks": [{"name": "y1", "type": "binary"}, {"name": "y2", "type": "binary"}],
            "search_space": space_doc, "sampler": config["sampler"],
            "budget": {"trials": args["trials"], "epochs": args["epochs"]}})
        space = search_spaces.load(spec.search_space)
        data = load_dataset(spec.dataset, spec.tasks, spec.seed)
        context = TrialContext(spec=spec, inputs=data.schema, train=data.train,
                               valid=data.valid, test=None, artifact_root=root)
        study = optuna.create_study(directions=["maximize", "maximize"],
                                    sampler=make_sampler(config["sampler"], seed, args["trials"]))
        if config["coverage"]:
            enqueue_coverage(study, space, seed, args["trials"])
        keys = [o.result_key for o in spec.objective_list()]
        scheduler = (MOASHAScheduler(keys, ["max", "max"], grace_epochs=args["grace"],
                                     reduction_factor=args["eta"], max_epochs=args["epochs"])
                     if config["asha"] else None)
        trials = []
        for _ in range(args["trials"]):
            trial = study.ask()
            candidate = space.sample(trial)
            report = _Reporter(scheduler, str(trial.number), StopTraining)
            state, values = "COMPLETE", None
            try:
                final = run_trial(candidate, trial.number, context, report)
                values = [float(final[k]) for k in keys]
            except Exception:  # noqa: BLE001 - a failed trial, told as such
                state = "FAIL"
            if scheduler is not None and scheduler.pruned_epoch(str(trial.number)) is not None:
                state, values = "PRUNED", None
            if state == "COMPLETE" and values and all(map(math.isfinite, values)):
                study.tell(trial, values)
            else:
                study.tell(trial, state=getattr(optuna.trial.TrialState,
                                                "PRUNED" if state == "PRUNED" else "FAIL"))
            trials.append({"topology": candidate["architecture"]["topology"], "state": state,
                           "values": values,
                           "train_s": float(report.last.get(KEY_TRAIN_TIME, 0.0))})
    return {"dataset": dataset, "method": method, "seed": seed, "trials": trials}


class _Reporter:
    """A trial's report hook: keeps the last epoch's result and asks the scheduler (when there
    is one) whether to go on; a STOP raises ``stop`` (the Trainer's ``StopTraining``)."""

    def __init__(self, scheduler: Any, trial_id: str, stop: type[Exception]) -> None:
        self.scheduler, self.trial_id, self.stop = scheduler, trial_id, stop
        self.last: dict[str, Any] = {}

    def __call__(self, result: dict[str, Any]) -> None:
        self.last = dict(result)
        if self.scheduler is not None and \
                self.scheduler.decide(self.trial_id, result) == "STOP":
            raise self.stop


def curve(study: dict[str, Any]) -> list[tuple[float, float]]:
    """(cumulative training seconds, hypervolume of the complete trials so far) per trial."""
    from automtl.report.pareto import hypervolume

    points, seconds, out = [], 0.0, []
    for trial in study["trials"]:
        seconds += trial["train_s"]
        if trial["state"] == "COMPLETE":
            points.append(trial["values"])
        volume = hypervolume(np.asarray(points, dtype=float).reshape(-1, 2),
                             ["maximize", "maximize"], REFERENCE) if points else 0.0
        out.append((seconds, volume))
    return out


def volume_at(points: list[tuple[float, float]], seconds: float) -> float:
    """The hypervolume reached within ``seconds`` of training."""
    return max((v for s, v in points if s <= seconds), default=0.0)


def seconds_to(points: list[tuple[float, float]], volume: float) -> float | None:
    """The training seconds after which the hypervolume first reached ``volume``."""
    return next((s for s, v in points if v >= volume - 1e-12), None)


def anytime_rows(studies: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for dataset in args.datasets:
        tpe = {s["seed"]: curve(s) for s in studies
               if s["dataset"] == dataset and s["method"] == "tpe"}
        for method in args.methods:
            runs = sorted((s for s in studies if s["dataset"] == dataset
                           and s["method"] == method), key=lambda s: s["seed"])
            if not runs:
                continue
            curves = {s["seed"]: curve(s) for s in runs}
            row: dict[str, Any] = {"dataset": dataset, "method": method, "seeds": len(runs)}
            row["final HV"] = round(statistics.fmean(c[-1][1] for c in curves.values()), 5)
            row["train s"] = round(statistics.fmean(c[-1][0] for c in curves.values()), 1)
            row["pruned"] = round(statistics.fmean(
                sum(t["state"] == "PRUNED" for t in s["trials"]) for s in runs), 1)
            if tpe:
                for fraction, label in ((1 / 3, "HV @1/3 TPE s"), (2 / 3, "HV @2/3 TPE s")):
                    row[label] = round(statistics.fmean(
                        volume_at(curves[seed], fraction * tpe[seed][-1][0])
                        for seed in curves if seed in tpe), 5)
                shares = []
                for seed, points in curves.items():
                    if seed not in tpe:
                        continue
                    needed = seconds_to(points, tpe[seed][-1][1])
                    shares.append(math.inf if needed is None else needed / tpe[seed][-1][0])
                reached = [x for x in shares if math.isfinite(x)]
                row["reached TPE final HV"] = f"{len(reached)}/{len(shares)} seeds"
                row["s to TPE final HV / TPE s"] = (round(statistics.fmean(reached), 3)
                                                    if reached else None)
            rows.append(row)
    return rows


def topology_rows(studies: list[dict[str, Any]], args: argparse.Namespace,
                  first: int) -> list[dict[str, Any]]:
    """Per dataset and method (TPE with and without coverage): trials per topology among the
    first ``first`` trials and in the whole run, summed over seeds."""
    topologies = list(COMPACT_SPACE["topology"]["choose"])
    rows = []
    for dataset in args.datasets:
        for method in ("tpe (no coverage)", "tpe", "tpe+mo_asha"):
            runs = [s for s in studies if s["dataset"] == dataset and s["method"] == method]
            if not runs:
                continue
            for label, limit in ((f"first {first}", first), ("all", None)):
                counts = Counter(t["topology"] for s in runs for t in s["trials"][:limit])
                rows.append({"dataset": dataset, "method": method, "trials": label,
                             **{t: counts.get(t, 0) for t in topologies}})
    return rows


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def main(argv: list[str] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    args = parse_args(argv)
    setup_threads(args.threads)
    shared = {k: getattr(args, k) for k in ("trials", "rows", "epochs", "grace", "eta")}
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn"),
                             initializer=_worker_init, initargs=(args.threads,)) as pool:
        jobs = [pool.submit(run_study, dataset, method, seed, shared)
                for seed in range(args.seed, args.seed + args.seeds)
                for dataset in args.datasets for method in args.methods]
        studies = [job.result() for job in jobs]
    elapsed = time.perf_counter() - started
    machine = machine_line()
    notes = [f"{args.seeds} seed(s), {args.trials} trials of {args.epochs} epochs on "
             f"{args.rows} rows per study, MO-ASHA grace {args.grace} eta {args.eta}, "
             f"reference point [0.5, 0.5]; whole run {elapsed:.0f}s"]
    anytime = anytime_rows(studies, args)
    topologies = topology_rows(studies, args, first=len(COMPACT_SPACE["topology"]["choose"]))
    curves = [{"dataset": s["dataset"], "method": s["method"], "seed": s["seed"],
               "trial": i, "train s": round(sec, 3), "HV": round(hv, 5)}
              for s in studies for i, (sec, hv) in enumerate(curve(s))]
    write_table(anytime, args.out, "anytime", "Hypervolume against training seconds",
                machine, notes)
    write_table(topologies, args.out, "anytime_topologies", "Trials per topology", machine, notes)
    write_table(curves, args.out, "anytime_curves", "Anytime curve points", machine, notes)
    return anytime, topologies


if __name__ == "__main__":
    main()
