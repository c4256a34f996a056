"""Search overhead: where the time of a real search goes besides training.

A whole ``automtl.search.run_search`` (Ray Tune + OptunaSearch, the Optuna study in SQLite,
weights saved per trial) of ``--trials`` trials on ``--cpus`` CPUs, ``--concurrency`` trials at
a time, on the synthetic data with the compact benchmark space. From the study's per-trial
records it splits the worker time (wall time x concurrency) into training (``Trainer.fit``:
epochs and their validation), the rest of each trial (model building, latency measurement,
saving weights) and everything outside the trials (Ray scheduling and result passing, Optuna's
sampler and storage writes in SQL, dataset loading, idle slots while the last trials finish).
Ray's start-up is timed separately. After the search, on the same Ray, a trainable that
only reports (as often as each of the search's trials did) runs the same number of trials
through a Tuner built as the runner builds it: its per-trial worker time is Ray Tune's own
part of the overhead (``Tune alone`` in the summary; see :func:`tune_floor`).

``--demo`` runs the demo's search instead (``automtl demo``'s job without its service: the
``default`` preset, 60 trials of 5 epochs on 20k synthetic rows of correlation 0.2, 2 at a
time, MO-ASHA with grace 1 and eta 3, valid/test 0.1/0.1); ``--preset``, ``--scheduler``,
``--correlation`` and ``--test`` set those one by one. Trials MO-ASHA stopped count with the
epochs they trained (their training seconds are recorded; the rest of such a trial, cut off by
Tune, falls under "outside trials").

``--suggest`` times only the driver's sampling and recording instead, in-process and without
Ray: the searcher's ``suggest`` over ``--trials`` trials of the run's spec (coverage trials
first, two trials open at a time as with concurrency 2), each closed through
``on_trial_complete`` with a made-up result shaped as the trainable reports it (objectives,
validation and test metrics of each task, costs, times, the epoch log, gate utilisation), two
in three as MO-ASHA-pruned at epoch 1; once with the trial-list snapshot of
:class:`~automtl.search.study.SnapshotStorage` and once reading the study for every parameter
group as Optuna does on its own. Seconds per suggest and per record, database reads of the
trial list, and database commits of each (every commit is a SQLite transaction of the driver
while a worker slot waits).

    python -m benchmarks.search_overhead
    python -m benchmarks.search_overhead --demo [--trials 30]
    python -m benchmarks.search_overhead --demo --suggest
    python -m benchmarks.search_overhead --quick
"""

from __future__ import annotations

import argparse
import datetime
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from automtl.search import run_search
from automtl.trial_record import ATTR_PRUNED_EPOCH, ATTR_TRAIN_TIME, ATTR_TRIAL_TIME
from benchmarks.common import base_parser, machine_line, setup_threads, write_table
from benchmarks.search_setup import job_spec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=None,
                        help="trials to finish (default: 30, with --demo 60)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs given to Ray")
    parser.add_argument("--concurrency", type=int, default=2, help="trials at a time")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--sampler", default="tpe")
    parser.add_argument("--correlation", type=float, default=0.5)
    parser.add_argument("--preset", default=None,
                        help="a search-space preset (default: the compact benchmark space)")
    parser.add_argument("--scheduler", choices=["none", "mo_asha"], default="none")
    parser.add_argument("--test", type=float, default=0.0, help="test split fraction")
    parser.add_argument("--demo", action="store_true",
                        help="the demo's search: default preset, 60 trials x 5 epochs, 20k "
                             "rows, correlation 0.2, MO-ASHA, a test split (explicit --trials "
                             "still applies)")
    parser.add_argument("--suggest", action="store_true",
                        help="time the driver's suggest only (no Ray), with and without the "
                             "trial-list snapshot")
    parser.add_argument("--storage", default=None,
                        help="Optuna RDB URL (default: a SQLite file in a temporary directory)")
    # trials set their own threads (resources.cpus_per_trial: 1); the driver matches them
    parser.set_defaults(threads=1)
    args = parser.parse_args(argv)
    if args.trials is None:
        args.trials = 60 if args.demo else 30
    if args.demo:
        args.epochs, args.rows, args.correlation = 5, 20_000, 0.2
        args.preset, args.scheduler, args.test = "default", "mo_asha", 0.1
    if args.device != "cpu":
        parser.error("--device: the search benchmarks run trials on the CPU")
    if args.quick:  # (--suggest trains nothing: enough trials for TPE past its start-up)
        args.trials = min(args.trials, 24 if args.suggest else 4)
        args.rows, args.epochs = min(args.rows, 2000), 1
    return args


def start_ray(cpus: int) -> float:
    """Start a local Ray with ``cpus`` CPUs as ``run_search`` does (its settings,
    ``automtl.search.runner.LOCAL_RAY_ENV``); its start-up seconds."""
    import ray

    from automtl.search.runner import _ensure_ray

    started = time.perf_counter()
    _ensure_ray(ray, None, cpus)
    return time.perf_counter() - started


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Run the search in ``workdir``; the raw figures of the breakdown."""
    import ray

    spec = _spec(args)
    url = args.storage or f"sqlite:///{workdir / 'study.db'}"
    ray_start = start_ray(args.cpus)
    try:
        # Optuna stamps a trial's ask and tell with the local clock (datetime.now)
        search_started, started = datetime.datetime.now(), time.perf_counter()
        result = run_search(spec, storage_url=url, artifact_dir=workdir / "artifacts",
                            study_name=f"bench-overhead-{int(time.time())}")
        wall = time.perf_counter() - started
        search_ended = datetime.datetime.now()
        study = optuna.load_study(study_name=result.study_name, storage=url)
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        pruned = [t for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
                  if ATTR_PRUNED_EPOCH in t.user_attrs]
        floor = tune_floor(_reports(spec, complete, pruned), args.concurrency, workdir)
    finally:
        ray.shutdown()
    missing = [t.number for t in complete
               if ATTR_TRAIN_TIME not in t.user_attrs or ATTR_TRIAL_TIME not in t.user_attrs]
    missing += [t.number for t in pruned if ATTR_TRAIN_TIME not in t.user_attrs]
    if missing:
        raise RuntimeError(f"trials {missing} have no recorded train/trial time")
    pruned_train = sum(float(t.user_attrs[ATTR_TRAIN_TIME]) for t in pruned)
    every = study.get_trials(deepcopy=False)
    first_ask = min(t.datetime_start for t in every if t.datetime_start)
    last_tell = max(t.datetime_complete for t in every if t.datetime_complete)
    ended = complete + pruned
    # after start-up: the trials asked once every slot had finished its first trial (their
    # worker started and imported torch and automtl); their ask-to-tell time and training
    later = [t for t in ended if t.number >= args.concurrency
             and t.datetime_complete and t.datetime_start]
    # each slot's first trial: ask to tell outside its training (its worker process starting
    # and importing, the dispatch, building, its reports): an upper bound of ask to start
    first = [(t.datetime_complete - t.datetime_start).total_seconds()
             - float(t.user_attrs[ATTR_TRAIN_TIME])
             for t in sorted(ended, key=lambda t: t.number)[:args.concurrency]
             if t.datetime_complete and t.datetime_start]
    return {
        "first_outside": first,
        "steady_slot": sum((t.datetime_complete - t.datetime_start).total_seconds()
                           for t in later),
        "steady_train": sum(float(t.user_attrs[ATTR_TRAIN_TIME]) for t in later),
        "ray_start": ray_start, "wall": wall, "complete": len(complete) + len(pruned),
        # the driver alone: data, study and Tune set-up before the first ask; Tune's
        # shutdown, the front and the stored importances after the last tell
        "before_first_ask": (first_ask - search_started).total_seconds(),
        "after_last_tell": (search_ended - last_tell).total_seconds(),
        "pruned": len(pruned), "failed": result.failed,
        "train": sum(float(t.user_attrs[ATTR_TRAIN_TIME]) for t in complete) + pruned_train,
        # a pruned trial's own time is known only up to its last epoch's training
        "trial": sum(float(t.user_attrs[ATTR_TRIAL_TIME]) for t in complete) + pruned_train,
        "optuna_trial": sum((t.datetime_complete - t.datetime_start).total_seconds()
                            for t in ended if t.datetime_complete and t.datetime_start),
        "tune_floor": floor,
    }


def _reports(spec: dict[str, Any], complete: list[Any], pruned: list[Any]) -> list[int]:
    """The reports each ended trial of the search made: one at each MO-ASHA rung it reached,
    and a complete trial's final result."""
    from automtl.search.mo_asha import rung_epochs

    epochs = int(spec["budget"]["epochs"])
    rungs = (rung_epochs(spec["scheduler"]["grace_epochs"],
                         spec["scheduler"]["reduction_factor"], epochs)
             if "scheduler" in spec else [])
    stopped = [int(t.user_attrs[ATTR_PRUNED_EPOCH]) for t in pruned]
    return ([len([r for r in rungs if r <= epoch]) for epoch in stopped]
            + [len(rungs) + 1] * len(complete))


def tune_floor(reports: list[int], concurrency: int, workdir: Path) -> dict[str, float]:
    """Ray Tune's own cost per trial, on the Ray the search ran on: a Tuner as the runner
    builds it (1 CPU per trial, ``concurrency`` at a time, ``reuse_actors``, Tune's loggers
    off) runs a trainable that only reports, a trial per ``reports`` entry with that many
    reports (as the search's trials reported; a trial MO-ASHA stopped ends here on its own).
    From the clock times the trials report: ``start_s``, the first ask until every slot's
    first trial has begun (Tune's set-up and the actors' start: a new Ray worker importing Ray
    and Tune, no torch), and ``per_trial_s``, from then to the last report, times
    ``concurrency``, per later trial: the worker time Tune costs a trial (dispatch, actor
    reset, result round trips, its controller loop), in seconds."""
    from ray import tune

    def only_reports(config: dict[str, Any]) -> None:
        began = time.time()
        for index in range(config["reports"]):
            tune.report({"index": index, "began": began, "now": time.time()})

    if len(reports) <= concurrency:
        return {"start_s": math.nan, "per_trial_s": math.nan}
    asked = time.time()
    grid = tune.Tuner(
        tune.with_resources(only_reports, {"cpu": 1}),
        param_space={"reports": tune.grid_search([max(1, n) for n in reports])},
        tune_config=tune.TuneConfig(max_concurrent_trials=concurrency, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(workdir / "tune-floor"), verbose=0),
    ).fit()
    metrics = [result.metrics for result in grid]
    began = sorted(m["began"] for m in metrics)
    warm = began[concurrency - 1]  # every slot has begun its first trial
    return {"start_s": warm - asked,
            "per_trial_s": (max(m["now"] for m in metrics) - warm) * concurrency
            / (len(reports) - concurrency)}


def _spec(args: argparse.Namespace) -> dict[str, Any]:
    spec = job_spec("bench-overhead", trials=args.trials, rows=args.rows,
                    features=args.features, correlation=args.correlation, epochs=args.epochs,
                    sampler=args.sampler, seed=args.seed, concurrency=args.concurrency,
                    test_fraction=args.test,
                    valid_fraction=0.1 if args.demo else 0.2,
                    space={"preset": args.preset} if args.preset else None)
    if args.scheduler != "none":
        spec["scheduler"] = {"name": args.scheduler, "grace_epochs": 1, "reduction_factor": 3}
    return spec


def suggest_cost(args: argparse.Namespace, workdir: Path, snapshot: bool) -> dict[str, Any]:
    """The searcher's ``suggest`` timed over ``args.trials`` trials (see the module doc):
    mean seconds per suggest, over all and after the first 20 trials, and trial-list reads."""
    import random
    import statistics

    from sqlalchemy import event

    from automtl.jobspec import load_job_spec
    from automtl.search.coverage import enqueue_coverage
    from automtl.search.datasets import load_dataset
    from automtl.search.runner import _make_searcher
    from automtl.search.samplers import make_sampler
    from automtl.search.study import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_job_spec(_spec(args))
    data = load_dataset(spec.dataset, spec.tasks, spec.seed)
    name = f"suggest-{'snapshot' if snapshot else 'plain'}"
    storage = open_storage(f"sqlite:///{workdir / (name + '.db')}")
    searcher = _make_searcher(spec.space, spec, make_sampler(spec.sampler, spec.seed,
                                                             args.trials),
                              name, storage, args.trials, lambda _: None, None, data.schema)
    if not snapshot:  # the same storage class with its snapshot never opened
        searcher._snapshot_storage = None
    enqueue_coverage(searcher.study, spec.space, spec.seed, args.trials)
    wrapped = searcher.study._storage
    commits = [0]
    event.listen(wrapped._backend.engine, "commit",
                 lambda _conn: commits.__setitem__(0, commits[0] + 1))
    keys = [o.result_key for o in spec.objective_list()]
    rng = random.Random(args.seed)
    timings: list[tuple[float, int, int]] = []
    records: list[tuple[float, int]] = []
    running: list[str] = []
    for index in range(args.trials):
        reads, done_commits = wrapped.trial_list_reads, commits[0]
        started = time.perf_counter()
        searcher.suggest(f"t{index}")
        timings.append((time.perf_counter() - started, wrapped.trial_list_reads - reads,
                        commits[0] - done_commits))
        running.append(f"t{index}")
        if len(running) == args.concurrency or index == args.trials - 1:
            done = running.pop(0)
            done_commits, started = commits[0], time.perf_counter()
            if rng.random() < 2 / 3:  # as MO-ASHA stops a trial at its first rung
                searcher._scheduler = _PrunedAt(1)
                searcher.on_trial_complete(done, _final_result(spec, rng, keys, epochs=1))
            else:
                searcher._scheduler = None
                searcher.on_trial_complete(done, _final_result(spec, rng, keys, epochs=5))
            records.append((time.perf_counter() - started, commits[0] - done_commits))
    later = timings[20:] or timings
    return {"trial-list reads": "once per suggest" if snapshot else "per parameter group",
            "trials": len(timings),
            "mean suggest s": round(statistics.fmean(t for t, _, _ in timings), 4),
            "mean suggest s after 20": round(statistics.fmean(t for t, _, _ in later), 4),
            "reads per suggest after 20": round(statistics.fmean(r for _, r, _ in later), 1),
            "commits per suggest": round(statistics.fmean(c for _, _, c in timings), 1),
            "mean record s": round(statistics.fmean(t for t, _ in records), 4),
            "commits per record": round(statistics.fmean(c for _, c in records), 1)}


class _PrunedAt:
    """Stands in for MO-ASHA in :func:`suggest_cost`: every trial stopped at ``epoch`` with one
    rung's values."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def rung_values(self, trial_id: str) -> dict[str, list[float]]:
        return {str(self.epoch): [0.7, 0.7]}

    def pruned_epoch(self, trial_id: str) -> int:
        return self.epoch

    def start_coverage_trial(self, trial_id: str) -> None:
        """(The searcher names its coverage trials to MO-ASHA; nothing to do here.)"""


def _final_result(spec: Any, rng: Any, keys: list[str], epochs: int) -> dict[str, Any]:
    """A trial's last result as the trainable reports it (made-up values): objectives, each
    task's validation and test metrics, costs, times, the epoch log, gate utilisation."""
    metrics = {"auc": 0.7, "logloss": 0.5, "accuracy": 0.8}
    tasks = [task.name for task in spec.tasks]
    log = [{"epoch": e, "train_time_s": 0.5 * e,
            **{f"valid/{t}/{m}": v * rng.uniform(0.9, 1.1) for t in tasks
               for m, v in metrics.items()}} for e in range(1, epochs + 1)]
    return {"automtl/final": True, **{k: rng.uniform(0.6, 0.8) for k in keys},
            **{f"{split}/{t}/{m}": v * rng.uniform(0.9, 1.1) for split in ("valid", "test")
               for t in tasks for m, v in metrics.items()},
            "cost/params": 12345, "cost/latency_ms": 1.5, "cost/effective_params": 12345,
            "train_time_s": 0.5 * epochs, "trial_time_s": 0.5 * epochs + 0.2,
            "epochs_trained": epochs, "artifact": "/tmp/trial", "automtl/epochs": log,
            **{f"gate_utilisation/{t}": [0.25, 0.25, 0.5] for t in tasks}}


def breakdown(raw: dict[str, Any], concurrency: int) -> list[dict[str, Any]]:
    """The component table: seconds of worker time, share, and seconds per trial."""
    trials = max(raw["complete"], 1)
    worker = raw["wall"] * concurrency
    parts = [
        ("training (Trainer.fit: epochs + their validation)", raw["train"]),
        ("rest of each trial (build model, latency, save weights)", raw["trial"] - raw["train"]),
    ]
    if "optuna_trial" in raw:  # split by the study's ask and tell times
        parts.append(("ask to tell outside the trial function (sampling, Ray dispatch and "
                      "the first trials' worker start, per-epoch result round trips, "
                      "recording)", raw["optuna_trial"] - raw["trial"]))
        idle = worker - raw["optuna_trial"]
        if "before_first_ask" in raw:  # the driver alone before the first ask, after the last
            before = raw["before_first_ask"] * concurrency
            after = raw["after_last_tell"] * concurrency
            parts += [
                ("driver before the first ask (data, study, Tune set-up)", before),
                ("driver after the last tell (Tune shutdown, front, importances)", after),
                ("no trial asked in the slot in between (driver between tell and ask, a "
                 "slot idle while the last trials finish)", idle - before - after),
            ]
        else:
            parts.append(("no trial asked in the slot (driver between tell and ask, idle "
                          "slots at the end)", idle))
    else:
        parts.append(("outside trials (Ray, Optuna sampler, SQL storage, data load, idle "
                      "slots)", worker - raw["trial"]))
    rows = [{"component": name, "worker_s": round(seconds, 2),
             "share": round(seconds / worker, 3), "per_trial_s": round(seconds / trials, 3)}
            for name, seconds in parts]
    rows.append({"component": f"total worker time (wall x {concurrency} concurrent)",
                 "worker_s": round(worker, 2), "share": 1.0,
                 "per_trial_s": round(worker / trials, 3)})
    return rows


def summary(raw: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """One line: wall time, summed training, share outside training, per-trial overhead."""
    trials = max(raw["complete"], 1)
    worker = raw["wall"] * args.concurrency
    searching = raw["wall"] - raw.get("before_first_ask", 0.0) - raw.get("after_last_tell", 0.0)
    return {
        "trials complete": raw["complete"], "of them pruned": raw.get("pruned", 0),
        "failed": raw["failed"],
        "cpus": args.cpus, "concurrency": args.concurrency,
        "ray start s": round(raw["ray_start"], 2),
        "search wall s": round(raw["wall"], 2),
        "sum training s": round(raw["train"], 2),
        "share outside training": round(1 - raw["train"] / worker, 3),
        # the same over the slots' time from the first ask to the last tell only
        "share outside training, first ask to last tell": (
            round(1 - raw["train"] / (searching * args.concurrency), 3)
            if searching > 0 else None),
        "driver before first ask s": round(raw.get("before_first_ask", 0.0), 2),
        "driver after last tell s": round(raw.get("after_last_tell", 0.0), 2),
        # the first trial of each slot (worker start, first imports) left out
        "share after start-up": (round(1 - raw["steady_train"] / raw["steady_slot"], 3)
                                 if raw.get("steady_slot") else None),
        "overhead per trial s": round((worker - raw["train"]) / trials, 3),
        "first trials: ask to tell outside training s": ", ".join(
            f"{v:.1f}" for v in raw.get("first_outside", [])),
        "mean training per trial s": round(raw["train"] / trials, 3),
        # Ray Tune's own part of each trial's overhead (tune_floor), and its share of the
        # worker time over all trials of the search
        "Tune alone: per trial s": round(raw["tune_floor"]["per_trial_s"], 3),
        "Tune alone: share": round(raw["tune_floor"]["per_trial_s"] * trials / worker, 3),
        "Tune alone: first trials' start s": round(raw["tune_floor"]["start_s"], 2),
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    setup_threads(args.threads)
    if args.suggest:
        with tempfile.TemporaryDirectory(prefix="automtl-bench-") as tmp:
            rows = [suggest_cost(args, Path(tmp), snapshot) for snapshot in (False, True)]
        write_table(rows, args.out, "search_overhead_suggest",
                    "Search overhead: the driver's suggest (sampling), no Ray",
                    machine_line("cpu"),
                    [f"{args.trials} trials, sampler {args.sampler}, preset "
                     f"{args.preset or 'compact'}, Optuna study in SQLite, 2 trials open at a "
                     f"time; load average {_load()} at the end."])
        return rows
    with tempfile.TemporaryDirectory(prefix="automtl-bench-") as tmp:
        raw = measure(args, Path(tmp))
    machine = machine_line("cpu")
    space = (f"preset {args.preset!r}" if args.preset else
             "compact space (single_task, shared_bottom, mmoe, ple; small sizes; searched "
             "dropout, lr and batch size)")
    notes = [f"{args.trials} trials requested, sampler {args.sampler}, scheduler "
             f"{args.scheduler}; synthetic data {args.rows} rows x {args.features} features "
             f"(correlation {args.correlation}), 2 binary tasks, test split {args.test}, "
             f"{args.epochs} epoch(s) per trial; {space}; 1 CPU per trial; load average "
             f"{_load()} at the end.",
             "worker time = search wall time (all of run_search) x concurrency; share "
             "outside training = 1 - summed training / worker time; the same from the first "
             "ask to the last tell leaves out the driver's set-up before the first trial and "
             "its work after the last (Tune's shutdown, the front, the stored importances); "
             "overhead per trial = (worker time - summed "
             "training) / complete trials; share after start-up = the same over the ask-to-tell "
             "time of the trials after each slot's first one (whose worker start and first "
             "imports are a fixed cost per search; the gaps between a tell and the next ask, "
             "about 0.1-0.2 s, are left out).",
             "Optuna study in "
             + ("SQLite (a temporary file)" if args.storage is None else "the given storage")
             + f"; the optuna-side trial durations (ask to tell) sum to "
             f"{raw['optuna_trial']:.1f} s."]
    rows = [summary(raw, args)]
    write_table(rows, args.out, "search_overhead", "Search overhead: a real Ray Tune + Optuna "
                "search", machine, notes)
    write_table(breakdown(raw, args.concurrency), args.out, "search_overhead_breakdown",
                "Search overhead: where the worker time goes", machine, notes[:1])
    return rows


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


if __name__ == "__main__":
    main()
