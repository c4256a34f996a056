"""Anytime curves: hypervolume against cumulative training seconds, with and without MO-ASHA.

Methods: ``random``, ``tpe`` (full fidelity: every trial trains all its epochs), ``tpe+mo_asha``
and ``nsga2+mo_asha`` (automtl's MO-ASHA scheduler, ``automtl.search.mo_asha``, stops trials
dominated at rungs 1 and 3 epochs with eta 3), plus ``tpe (no coverage)`` for the per-topology
counts before the coverage startup. Every method starts with automtl's coverage trials (every
topology once) except that last one. Datasets: the synthetic MMoE recipe, and a generated
dataset with categorical columns and a rare second task (positive rate ~5%).

**Equal training seconds.** Full-fidelity ``tpe`` (and ``tpe (no coverage)``) run
``--trials`` trials; its summed training seconds ``S`` (per dataset and seed) is then the
budget of ``random``, ``tpe+mo_asha`` and ``nsga2+mo_asha`` on the same dataset and seed: they
run trials until their own training seconds reach ``S`` (at most ``--max-trials-factor`` x
``--trials`` trials), so the pruned methods spend on more trials what early stopping saves
(Ray Tune's ``time_budget_s`` with an unbounded trial count, at the scale of training seconds).
Every method is compared by its hypervolume after ``S`` (and after ``S/3``, ``2S/3``) training
seconds. The goal of issue 14: TPE + MO-ASHA reaches full TPE's final hypervolume with at most
``S/3``. Epochs trained are counted too (a measure the machine's load does not distort).

Trials run in-process through Optuna's ask/tell with automtl's trial function
(``automtl.search.trainable.run_trial``) and the same scheduler object Ray Tune uses (its
``decide`` on each epoch's report; a STOP ends the trial through ``StopTraining``), one study
per core; ``benchmarks.search_overhead`` measures what Ray adds. Training seconds are the sum
of the epochs' seconds as the trial reports them (pruned trials included). The hypervolume of
the complete trials' validation AUCs is taken against the fixed reference (0.5, 0.5).

Tables: ``anytime`` (per dataset and method, mean over seeds: trials, pruned trials, training
seconds and epochs, hypervolume at 1/3, 2/3 and all of full-fidelity TPE's training seconds,
how many seeds reached TPE's final hypervolume and the seconds (and epochs) that took as a
fraction of TPE's, and in how many seeds that was within 1/3), ``anytime_topologies`` (trial
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
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
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
    parser.add_argument("--trials", type=int, default=12,
                        help="trials of full-fidelity TPE (its training seconds are the "
                             "budget of the other methods)")
    parser.add_argument("--max-trials-factor", type=int, default=6,
                        help="the seconds-budgeted methods stop after this many times --trials "
                             "trials even when seconds remain")
    parser.add_argument("--seeds", type=int, default=1,
                        help="seeds per method (default 1 to stay under 10 minutes on 2 "
                             "loaded cores; the issue's comparison is --seeds 3)")
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


def run_study(dataset: str, method: str, seed: int, args: dict[str, Any],
              seconds: float | None = None) -> dict[str, Any]:
    """One study trial by trial; per trial its topology, state, values, training seconds and
    epochs. Without ``seconds``: ``args["trials"]`` trials; with it: trials until their summed
    training seconds reach ``seconds`` (at most ``max_trials_factor`` x ``trials``)."""
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
            "budget": {"trials": args["trials"], "epochs": args["epochs"]},
            # the trial reports at the rungs only when its job names the scheduler
            **({"scheduler": {"name": "mo_asha", "grace_epochs": args["grace"],
                              "reduction_factor": args["eta"]}} if config["asha"] else {})})
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
        trials: list[dict[str, Any]] = []
        limit = args["trials"] if seconds is None else args["trials"] * args["max_trials_factor"]
        spent = 0.0
        while len(trials) < limit and (seconds is None or spent < seconds):
            trial = study.ask()
            candidate = space.sample(trial)
            report = _Reporter(scheduler, str(trial.number), StopTraining)
            state, values, final = "COMPLETE", None, {}
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
            # a complete trial's final result, else its last report (where it was stopped)
            last = final if final else report.last
            train_s = float(last.get(KEY_TRAIN_TIME, 0.0))
            spent += train_s
            trials.append({"topology": candidate["architecture"]["topology"], "state": state,
                           "values": values, "train_s": train_s,
                           "epochs": int(last.get("epochs_trained", last.get("epoch", 0)))})
    return {"dataset": dataset, "method": method, "seed": seed, "trials": trials,
            "budget_s": seconds}


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


def curve(study: dict[str, Any], unit: str = "train_s") -> list[tuple[float, float]]:
    """(cumulative training seconds, hypervolume of the complete trials so far) per trial;
    ``unit="epochs"`` counts epochs trained instead of seconds."""
    from automtl.report.pareto import hypervolume

    points, seconds, out = [], 0.0, []
    for trial in study["trials"]:
        seconds += trial[unit]
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


#: the methods whose training seconds set the others' budget, and those run on that budget
FIXED_TRIALS = ("tpe", "tpe (no coverage)")
GOAL_FRACTION = 1 / 3


def _share_to(points: list[tuple[float, float]], volume: float, total: float) -> float:
    """The cost (seconds or epochs) after which ``points`` first reached ``volume``, as a
    fraction of ``total``; infinity when it never did."""
    needed = seconds_to(points, volume)
    return math.inf if needed is None or total <= 0 else needed / total


def anytime_rows(studies: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Per dataset and method, means over seeds, every method read at full TPE's training
    seconds ``S`` of the same seed (and at ``S/3``, ``2S/3``)."""
    rows = []
    for dataset in args.datasets:
        tpe = {s["seed"]: s for s in studies if s["dataset"] == dataset and s["method"] == "tpe"}
        for method in args.methods:
            runs = sorted((s for s in studies if s["dataset"] == dataset
                           and s["method"] == method), key=lambda s: s["seed"])
            if not runs:
                continue
            curves = {s["seed"]: curve(s) for s in runs}
            epochs = {s["seed"]: curve(s, "epochs") for s in runs}
            row: dict[str, Any] = {"dataset": dataset, "method": method, "seeds": len(runs)}
            row["trials"] = round(statistics.fmean(len(s["trials"]) for s in runs), 1)
            row["pruned"] = round(statistics.fmean(
                sum(t["state"] == "PRUNED" for t in s["trials"]) for s in runs), 1)
            row["train s"] = round(statistics.fmean(c[-1][0] for c in curves.values()), 1)
            row["epochs"] = round(statistics.fmean(c[-1][0] for c in epochs.values()), 1)
            row["final HV"] = round(statistics.fmean(c[-1][1] for c in curves.values()), 5)
            paired = [seed for seed in curves if seed in tpe]
            if paired:
                for fraction, label in ((1 / 3, "HV @S/3"), (2 / 3, "HV @2S/3"),
                                        (1.0, "HV @S")):
                    row[label] = round(statistics.fmean(
                        volume_at(curves[seed], fraction * curve(tpe[seed])[-1][0])
                        for seed in paired), 5)
                shares, epoch_shares = [], []
                for seed in paired:
                    reference = curve(tpe[seed])[-1]
                    reference_epochs = curve(tpe[seed], "epochs")[-1][0]
                    shares.append(_share_to(curves[seed], reference[1], reference[0]))
                    epoch_shares.append(_share_to(epochs[seed], reference[1], reference_epochs))
                reached = [x for x in shares if math.isfinite(x)]
                row["reached TPE final HV"] = f"{len(reached)}/{len(shares)}"
                row["s to it / S"] = round(statistics.fmean(reached), 3) if reached else None
                reached_epochs = [x for x in epoch_shares if math.isfinite(x)]
                row["epochs to it / TPE's"] = (round(statistics.fmean(reached_epochs), 3)
                                               if reached_epochs else None)
                row["within S/3"] = \
                    f"{sum(x <= GOAL_FRACTION + 1e-9 for x in shares)}/{len(shares)}"
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
    shared = {k: getattr(args, k)
              for k in ("trials", "rows", "epochs", "grace", "eta", "max_trials_factor")}
    seeds = range(args.seed, args.seed + args.seeds)
    fixed = [m for m in args.methods if m in FIXED_TRIALS]
    budgeted = [m for m in args.methods if m not in FIXED_TRIALS]
    started = time.perf_counter()
    studies: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn"),
                             initializer=_worker_init, initargs=(args.threads,)) as pool:
        # full TPE first; as soon as one (dataset, seed) has its training seconds, the
        # budgeted methods of that dataset and seed start with them as their budget
        pending = {pool.submit(run_study, dataset, method, seed, shared): (dataset, method, seed)
                   for seed in seeds for dataset in args.datasets for method in fixed}
        if "tpe" not in fixed:  # nothing to take a budget from: equal trials instead
            pending.update({pool.submit(run_study, dataset, method, seed, shared):
                            (dataset, method, seed)
                            for seed in seeds for dataset in args.datasets
                            for method in budgeted})
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for job in done:
                dataset, method, seed = pending.pop(job)
                study = job.result()
                studies.append(study)
                if method == "tpe":
                    budget = sum(t["train_s"] for t in study["trials"])
                    pending.update({pool.submit(run_study, dataset, other, seed, shared,
                                                budget): (dataset, other, seed)
                                    for other in budgeted})
    elapsed = time.perf_counter() - started
    order = {m: i for i, m in enumerate(args.methods)}
    studies.sort(key=lambda s: (s["dataset"], order[s["method"]], s["seed"]))
    machine = machine_line()
    notes = [f"{args.seeds} seed(s); full-fidelity TPE: {args.trials} trials of {args.epochs} "
             f"epochs on {args.rows} rows per study, its summed training seconds S are the "
             f"budget of {', '.join(budgeted) or 'no other method'} on the same dataset and "
             f"seed (at most {args.max_trials_factor * args.trials} trials); MO-ASHA grace "
             f"{args.grace} eta {args.eta}; reference point [0.5, 0.5]; "
             f"whole run {elapsed:.0f}s, load average {_load()} at the end",
             "HV @S/3, @2S/3, @S: hypervolume of the complete trials after that many training "
             "seconds (S = full TPE's, per seed); 's to it / S': training seconds to reach full "
             "TPE's final hypervolume over S (mean over the seeds that reached it); "
             "'within S/3': seeds in which that was at most 1/3 (the issue's goal); "
             "'epochs to it': the same in epochs trained (load-independent)",
             "training seconds are measured in worker processes sharing the machine with the "
             "others: a loaded machine stretches them, so compare methods within one run"]
    anytime = anytime_rows(studies, args)
    topologies = topology_rows(studies, args, first=len(COMPACT_SPACE["topology"]["choose"]))
    curves = [{"dataset": s["dataset"], "method": s["method"], "seed": s["seed"],
               "trial": i, "train s": round(sec, 3), "HV": round(hv, 5)}
              for s in studies for i, (sec, hv) in enumerate(curve(s))]
    write_table(anytime, args.out, "anytime", "Hypervolume against training seconds "
                "(equal training seconds)", machine, notes)
    write_table(topologies, args.out, "anytime_topologies", "Trials per topology", machine, notes)
    write_table(curves, args.out, "anytime_curves", "Anytime curve points", machine, notes)
    return anytime, topologies


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


if __name__ == "__main__":
    main()
