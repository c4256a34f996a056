"""Anytime curves: hypervolume against cumulative training cost, with and without MO-ASHA.

Methods (default: the issue's four, and ``tpe (no coverage)`` for the per-topology counts):
``random``, ``tpe`` (full fidelity: every trial trains all its epochs), ``tpe+mo_asha`` (as a
job spec with ``scheduler: {name: mo_asha}`` runs it: automtl's MO-ASHA scheduler,
``automtl.search.mo_asha``, grace ``--grace`` epochs and eta ``--eta`` (rungs at 1 and 3 of 9
epochs by default), eager promotion, the coverage trials trained to the first rung only
(``scheduler.coverage: first_rung``), TPE ranking pruned trials by their rung values
(``automtl.search.samplers.RungAwareTPESampler``)), ``nsga2+mo_asha`` (the same with NSGA-II),
``tpe (no coverage)``, and the variants measured against the job spec's:
``tpe+mo_asha (full coverage)`` (coverage trials ranked like any other trial, the rule before
``scheduler.coverage``), ``tpe+mo_asha (plain TPE)`` (Optuna's TPE: pruned trials all alike)
``tpe+mo_asha (eta)`` (ASHA's ``floor(n/eta)`` promotion, ``promotion="eta"``), ``(grace 2)``,
``(grace 3)``, ``(grace 3, eta 2)`` (other rungs), ``(epsilon SE)``, ``(epsilon SE/2)``
(MO-ASHA's ``epsilon`` = that many Hanley-McNeil standard errors of each task's validation AUC)
and ``(brackets 2)``, ``(brackets 3)`` (Hyperband-style brackets), and ASHA's promotion
variant (``promotion="pause"``: a trial outside the rung's top ``floor(n/eta)`` pauses with a
checkpoint and is resumed when the rung ranks it there; coverage trials ranked and paused like
any other): ``tpe+mo_asha (pause)``, ``(pause, grace 3)`` and ``(pause, first-rung
coverage)``; a resumed trial's cost is what it trains after its checkpoint. Every
method starts with automtl's coverage trials (every topology once) except ``tpe (no
coverage)``. Datasets: the synthetic MMoE recipe, and a generated dataset with categorical
columns and a rare second task (positive rate ~5%; ``--rare-valid-rows`` enlarges its
validation split, training rows unchanged).

**Equal training cost.** Full-fidelity ``tpe`` (and ``tpe (no coverage)``) run ``--trials``
trials; its summed training cost ``S`` (per dataset and seed) is then the budget of the other
methods on the same dataset and seed: they run trials until their own training cost reaches
``S`` (at most ``--max-trials-factor`` x ``--trials`` trials), so the pruned methods spend on
more trials what early stopping saves (Ray Tune's ``time_budget_s`` with an unbounded trial
count, at the scale of training). Every method is compared by its hypervolume after ``S`` (and
after ``S/3``, ``2S/3``). The goal of issue 14: TPE + MO-ASHA reaches full TPE's final
hypervolume with at most ``S/3``.

**Training cost** is counted three ways per trial: thread CPU seconds of its epoch loop
(``time.thread_time`` from the start of the first epoch to the end of the last: training and
each epoch's validation pass; ``--budget-unit cpu``, the default, which sets the budget and the
verdict), wall seconds of the same span as the trial reports them (the issue's "training
seconds"; ``--budget-unit wall``) and epochs trained. Wall seconds of studies run side by side
on a shared machine are stretched by whatever else runs (the same trial took up to 2.5 times
as long in one study as in another of the same run); CPU seconds are not stretched by waiting,
only by cache and core sharing; epochs are load-free but blind to model size. The
``anytime_noise`` table measures the first two on trials that did identical work in several
studies of one run. Each worker trains one tiny untimed trial first, so no measured trial pays
the process's first-use costs.

**Run-to-run spread.** ``--seed``/``--seeds`` seed the sampler and the trials' training and,
unless ``--data-seed`` is given, the generated data and its split too. With ``--data-seed D``
every study trains on the same data and only the sampler and training seeds vary:
``anytime_spread`` gives each method's final hypervolume over those seeds (mean, SD, range),
the noise floor a "reached full TPE's final hypervolume" verdict is read against.
``anytime_rung_ranks`` reads full TPE's complete trials epoch by epoch: the rank correlation of
each epoch's values with the final ones, the share of the final top third that epoch's top
third holds, and the learning rates of both (the fast-learner bias of an early rung).

Trials run in-process through Optuna's ask/tell with automtl's trial function
(``automtl.search.trainable.run_trial``) and the same scheduler object Ray Tune uses (its
``decide`` on each epoch's report; a STOP ends the trial through ``StopTraining``; its rung
values are stored on the trial as the searcher stores them), one study per core;
``benchmarks.search_overhead`` measures what Ray adds. The hypervolume of the complete trials'
validation AUCs is taken against the fixed reference (0.5, 0.5).

Tables: ``anytime`` (per dataset and method, mean over seeds: trials, pruned trials, CPU and
wall seconds and epochs, the asks at which pruned trials filled TPE's good group, hypervolume
at 1/3, 2/3 and all of full-fidelity TPE's training cost, how many seeds reached TPE's final
hypervolume, the cost that took as a fraction of TPE's in each unit, and in how many seeds
that was within 1/3), ``anytime_topologies`` (trial counts per topology with and without
coverage), ``anytime_curves`` (the raw curve points) and ``anytime_noise``. Each run also
writes its raw studies to ``studies.json``; ``--merge`` builds the tables from several runs'
(e.g. one per dataset and seed, each short enough to hold the benchmark lock).

    python -m benchmarks.anytime
    python -m benchmarks.anytime --quick
    python -m benchmarks.anytime --merge out-a/studies.json out-b/studies.json --out merged
    python -m benchmarks.anytime --methods tpe --data-seed 0 --seed 0 --seeds 4
"""

from __future__ import annotations

import argparse
import json
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
    # TPE + MO-ASHA as a job spec runs it: the spec's promotion (eager) and coverage fidelity
    # (first rung), TPE ranking pruned trials by their rung values (RungAwareTPESampler)
    "tpe+mo_asha": {"sampler": "tpe", "asha": True, "coverage": True, "rung_tpe": True},
    # the variants measured against it: coverage trials trained to the end like any other
    # trial, Optuna's plain TPE, and ASHA's floor(n/eta) promotion
    "tpe+mo_asha (full coverage)": {"sampler": "tpe", "asha": True, "coverage": True,
                                    "rung_tpe": True, "coverage_fidelity": "full"},
    "tpe+mo_asha (plain TPE)": {"sampler": "tpe", "asha": True, "coverage": True},
    "tpe+mo_asha (eta)": {"sampler": "tpe", "asha": True, "coverage": True, "rung_tpe": True,
                          "promotion": "eta"},
    "nsga2+mo_asha": {"sampler": "nsga2", "asha": True, "coverage": True},
    # the job spec's TPE + MO-ASHA with other rungs than --grace/--eta: a first rung after 2
    # or 3 epochs instead of 1 (one-epoch rungs rank validation noise)
    "tpe+mo_asha (grace 2)": {"sampler": "tpe", "asha": True, "coverage": True,
                              "rung_tpe": True, "grace": 2},
    "tpe+mo_asha (grace 3)": {"sampler": "tpe", "asha": True, "coverage": True,
                              "rung_tpe": True, "grace": 3},
    "tpe+mo_asha (grace 3, eta 2)": {"sampler": "tpe", "asha": True, "coverage": True,
                                     "rung_tpe": True, "grace": 3, "eta": 2},
    # rungs that keep a trial the validation noise cannot tell from the front: MO-ASHA's
    # epsilon = this many standard errors of each task's validation AUC (Hanley-McNeil)
    "tpe+mo_asha (epsilon SE)": {"sampler": "tpe", "asha": True, "coverage": True,
                                 "rung_tpe": True, "epsilon_se": 1.0},
    "tpe+mo_asha (epsilon SE/2)": {"sampler": "tpe", "asha": True, "coverage": True,
                                   "rung_tpe": True, "epsilon_se": 0.5},
    # Hyperband's brackets, dealt in turn: first rungs at grace, grace*eta (, grace*eta^2 =
    # the last epoch: no pruning), against rungs after few epochs favouring fast learners
    "tpe+mo_asha (brackets 2)": {"sampler": "tpe", "asha": True, "coverage": True,
                                 "rung_tpe": True, "brackets": 2},
    "tpe+mo_asha (brackets 3)": {"sampler": "tpe", "asha": True, "coverage": True,
                                 "rung_tpe": True, "brackets": 3},
    # ASHA's promotion variant (Li et al. 2020; Syne Tune's type="promotion"): a trial
    # outside the top floor(n/eta) pauses at the rung (its checkpoint kept) and is resumed
    # when the rung ranks it there; coverage trials ranked (and paused) like any other
    "tpe+mo_asha (pause)": {"sampler": "tpe", "asha": True, "coverage": True,
                            "rung_tpe": True, "promotion": "pause",
                            "coverage_fidelity": "full"},
    "tpe+mo_asha (pause, grace 3)": {"sampler": "tpe", "asha": True, "coverage": True,
                                     "rung_tpe": True, "promotion": "pause",
                                     "coverage_fidelity": "full", "grace": 3},
    "tpe+mo_asha (pause, first-rung coverage)": {"sampler": "tpe", "asha": True,
                                                 "coverage": True, "rung_tpe": True,
                                                 "promotion": "pause"},
    "tpe (no coverage)": {"sampler": "tpe", "asha": False, "coverage": False},
}
#: the methods run unless --methods says otherwise (the issue's four, and TPE without coverage
#: for the per-topology counts)
DEFAULT_METHODS = ("random", "tpe", "tpe+mo_asha", "nsga2+mo_asha", "tpe (no coverage)")
#: what the budget and the verdict count: thread CPU seconds of the trials' epoch loops
COST_UNITS = {"cpu": "cpu_s", "wall": "train_s", "epochs": "epochs"}
DATASETS = ("synthetic", "rare-categorical")
REFERENCE = [0.5, 0.5]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30,
                        help="trials of full-fidelity TPE (its training seconds are the "
                             "budget of the other methods)")
    parser.add_argument("--max-trials-factor", type=int, default=6,
                        help="the seconds-budgeted methods stop after this many times --trials "
                             "trials even when seconds remain")
    parser.add_argument("--seeds", type=int, default=1,
                        help="seeds per method (default 1 to stay under 10 minutes on 2 "
                             "loaded cores; the issue's comparison is --seeds 3)")
    parser.add_argument("--data-seed", type=int, default=None,
                        help="seed of the generated data and its split, the same for every "
                             "study (default: each study's own --seed, which then also seeds "
                             "the sampler and the trials' training); with it, --seed/--seeds "
                             "vary only the sampler and training seeds, so the studies of one "
                             "method measure the run-to-run spread on fixed data")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rare-valid-rows", type=int, default=None,
                        help="validation rows of the rare-task dataset (default: 20%% of "
                             "--rows, ~20 positives at 2,000 rows); its training and test "
                             "rows stay those of --rows")
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--grace", type=int, default=1)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--methods", nargs="+", choices=list(METHODS),
                        default=list(DEFAULT_METHODS))
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--workers", type=int, default=available_cores())
    parser.add_argument("--budget-unit", choices=["cpu", "wall"], default="cpu",
                        help="the training cost that sets the budgeted methods' budget and the "
                             "verdict: thread CPU seconds of the epochs (default; what other "
                             "processes on the cores do not stretch) or their wall seconds")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="STUDIES_JSON",
                        help="run nothing: build the tables from the studies.json files of "
                             "earlier runs (e.g. one per dataset and seed, each short enough "
                             "to hold the benchmark lock)")
    parser.set_defaults(threads=1)
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.seeds, args.rows, args.epochs = 5, 1, 800, 3
    return args


def _write_dataset(kind: str, rows: int, root: Path, seed: int,
                   valid_rows: int | None = None) -> dict[str, Any]:
    """The dataset spec (a file for the rare-task one, the builtin for synthetic). ``rows`` are
    split 70/20/10 (train/valid/test); ``valid_rows`` (rare-task data only) makes the
    validation split that many rows, the training and test splits unchanged."""
    if kind == "synthetic":
        return {"builtin": "synthetic", "rows": rows, "features": 32, "correlation": 0.5,
                "seed": seed, "split": {"valid": 0.2, "test": 0.1}}
    from automtl.data import make_synthetic

    split = {"valid": 0.2, "test": 0.1}
    if valid_rows is not None:
        total = round(rows * 0.8) + valid_rows
        split = {"valid": valid_rows / total, "test": rows * 0.1 / total}
        rows = total
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
            "split": split}


def run_study(dataset: str, method: str, seed: int, args: dict[str, Any],
              budget: float | None = None) -> dict[str, Any]:
    """One study trial by trial; per trial its topology, state, values, training cost (wall
    seconds, thread CPU seconds, epochs) and candidate. Without ``budget``: ``args["trials"]``
    trials; with it: trials until their summed cost in ``args["budget_unit"]`` reaches
    ``budget`` (at most ``max_trials_factor`` x ``trials``)."""
    import optuna

    import search_spaces
    from automtl.jobspec import load_job_spec
    from automtl.search.coverage import ATTR_COVERAGE, enqueue_coverage
    from automtl.search.datasets import load_dataset
    from automtl.search.mo_asha import MOASHAScheduler
    from automtl.search.samplers import make_sampler
    from automtl.search.trainable import (
        KEY_EPOCH_LOG,
        KEY_TRAIN_TIME,
        TrialContext,
        run_trial,
    )
    from automtl.training.result import StopTraining
    from automtl.trial_record import ATTR_PRUNED_EPOCH, ATTR_RUNGS, set_trial_attr

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = METHODS[method]
    grace, eta = config.get("grace", args["grace"]), config.get("eta", args["eta"])
    space_doc = dict(COMPACT_SPACE, architecture=dict(COMPACT_SPACE["architecture"],
                                                      embedding_dim=4))
    data_seed = seed if args.get("data_seed") is None else int(args["data_seed"])
    with tempfile.TemporaryDirectory(prefix="automtl-anytime-") as root, \
            _EpochClock() as clock:
        spec = load_job_spec({
            "name": f"anytime-{seed}", "seed": seed,
            "dataset": _write_dataset(dataset, args["rows"], Path(root), data_seed,
                                      args.get("rare_valid_rows")),
            "tasks": [{"name": "y1", "type": "binary"}, {"name": "y2", "type": "binary"}],
            "search_space": space_doc, "sampler": config["sampler"],
            "budget": {"trials": args["trials"], "epochs": args["epochs"]},
            # the trial reports at the rungs only when its job names the scheduler
            **({"scheduler": {"name": "mo_asha", "grace_epochs": grace,
                              "reduction_factor": eta}} if config["asha"] else {})})
        space = search_spaces.load(spec.search_space)
        data = load_dataset(spec.dataset, spec.tasks, data_seed)
        context = TrialContext(spec=spec, inputs=data.schema, train=data.train,
                               valid=data.valid, test=None, artifact_root=root)
        keys = [o.result_key for o in spec.objective_list()]
        # the per-epoch validation keys of the objectives (the learning curve's columns)
        curve_keys = [f"valid/{o.name}/{o.metric}" for o in spec.objective_list()]
        auc_se = [auc_standard_error(data.valid.labels[:, i]) for i in range(len(keys))]
        scheduler = (MOASHAScheduler(keys, ["max", "max"], grace_epochs=grace,
                                     reduction_factor=eta, max_epochs=args["epochs"],
                                     promotion=config.get("promotion", "eager"),
                                     coverage=config.get("coverage_fidelity", "first_rung"),
                                     epsilon=[config.get("epsilon_se", 0.0) * se
                                              for se in auc_se],
                                     brackets=config.get("brackets", 1))
                     if config["asha"] else None)
        rung_modes = scheduler.modes if scheduler is not None and config.get("rung_tpe") \
            else None
        study = optuna.create_study(directions=["maximize", "maximize"],
                                    sampler=make_sampler(config["sampler"], seed, args["trials"],
                                                         rung_modes=rung_modes))
        if config["coverage"]:
            enqueue_coverage(study, space, seed, args["trials"])
        trials: list[dict[str, Any]] = []
        limit = args["trials"] if budget is None else args["trials"] * args["max_trials_factor"]
        unit = COST_UNITS[args.get("budget_unit", "cpu")]
        spent = 0.0
        pruned_fill = 0  # asks at which pruned trials had places in TPE's good group
        # promotion="pause": trial id -> (Optuna trial, candidate, checkpoint, record index)
        pausing = config.get("promotion") == "pause"
        paused: dict[str, tuple[Any, dict[str, Any], Any, int]] = {}
        asked = 0
        while asked < limit and (budget is None or spent < budget):
            promoted = scheduler.next_promotion() if pausing else None
            resume = None
            if promoted is not None:  # ASHA's get_job: a promotion before a new trial
                trial, candidate, resume, index = paused.pop(promoted)
                trials[index]["state"] = "PROMOTED"
            else:
                pruned_fill += _pruned_fill_good_group(study)
                trial = study.ask()
                asked += 1
                candidate = space.sample(trial)
                if scheduler is not None and trial.user_attrs.get(ATTR_COVERAGE):
                    scheduler.start_coverage_trial(str(trial.number))  # as the searcher does
            report = _Reporter(scheduler, str(trial.number), StopTraining)
            state, values, final = "COMPLETE", None, {}
            clock.reset()
            try:
                final = run_trial(candidate, trial.number, context, report, resume=resume,
                                  checkpoint=pausing)
                values = [float(final[k]) for k in keys]
            except Exception:  # noqa: BLE001 - a failed trial, told as such
                state = "FAIL"
            pruned_at = (scheduler.pruned_epoch(str(trial.number))
                         if scheduler is not None else None)
            paused_at = scheduler.paused_epoch(str(trial.number)) if pausing else None
            if scheduler is not None:  # what the searcher stores: the values at every rung
                rungs = scheduler.rung_values(str(trial.number))
                if rungs:
                    set_trial_attr(trial, ATTR_RUNGS, rungs)
            if paused_at is not None:  # waits at its rung, RUNNING for Optuna
                state, values = "PAUSED", None
                paused[str(trial.number)] = (trial, candidate, report.checkpoint, len(trials))
            elif pruned_at is not None:
                state, values = "PRUNED", None
                set_trial_attr(trial, ATTR_PRUNED_EPOCH, int(pruned_at))
            if state == "PAUSED":
                pass
            elif state == "COMPLETE" and values and all(map(math.isfinite, values)):
                study.tell(trial, values)
            else:
                study.tell(trial, state=getattr(optuna.trial.TrialState,
                                                "PRUNED" if state == "PRUNED" else "FAIL"))
            # a complete trial's final result, else its last report (where it was stopped);
            # a resumed trial's cost is what it trained after its checkpoint
            last = final if final else report.last
            before_s, before_epochs = ((resume.train_time_s, resume.epoch) if resume is not None
                                       else (0.0, 0))
            record = {"topology": candidate["architecture"]["topology"], "state": state,
                      "values": values,
                      "train_s": float(last.get(KEY_TRAIN_TIME, 0.0)) - before_s,
                      "cpu_s": clock.cpu_s, "process_cpu_s": clock.process_cpu_s,
                      "epochs": int(last.get("epochs_trained", last.get("epoch", 0)))
                      - before_epochs,
                      "candidate": json.dumps(candidate, sort_keys=True, default=str),
                      # [epoch, value per objective] of every epoch trained
                      # (a stopped trial's final result repeats the epoch it stopped at)
                      "curve": [[epoch, *(float(e.get(k, math.nan)) for k in curve_keys)]
                                for epoch, e in sorted({
                                    int(e["epoch"]): e for e in report.log
                                    + list(final.get(KEY_EPOCH_LOG, []))}.items())],
                      **({"resumed": True} if resume is not None else {})}
            spent += record[unit]
            trials.append(record)
        if pausing:  # the end of the search: what still waits at a rung is pruned there
            for trial_id, epoch in scheduler.finish().items():
                trial, _, _, index = paused.pop(trial_id)
                trials[index]["state"] = "PRUNED"
                set_trial_attr(trial, ATTR_PRUNED_EPOCH, int(epoch))
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return {"dataset": dataset, "method": method, "seed": seed, "data_seed": data_seed,
            "trials": trials,
            "budget": budget, "pruned_fill": pruned_fill, "valid_auc_se": auc_se}


def auc_standard_error(labels: Any, auc: float = 0.8) -> float:
    """The standard error of a binary AUC near ``auc`` on these 0/1 ``labels`` [n] (Hanley and
    McNeil, Radiology 1982); 0 when one class is missing."""
    labels = np.asarray(labels, dtype=float)
    positives, negatives = float(labels.sum()), float(len(labels) - labels.sum())
    if positives < 1 or negatives < 1:
        return 0.0
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    return math.sqrt((auc * (1 - auc) + (positives - 1) * (q1 - auc**2)
                      + (negatives - 1) * (q2 - auc**2)) / (positives * negatives))


def _pruned_fill_good_group(study: Any) -> int:
    """1 when TPE's next sample splits the trials so that pruned ones take places in its good
    group (``gamma(n)`` > complete trials, past the 10 random startup trials), else 0: the
    asks at which how pruned trials are ranked matters."""
    from optuna.samplers._tpe.sampler import default_gamma_multiobjective
    from optuna.trial import TrialState

    states = Counter(t.state for t in study.get_trials(deepcopy=False))
    finished = states[TrialState.COMPLETE] + states[TrialState.PRUNED]
    return int(finished >= 10 and states[TrialState.PRUNED] > 0
               and default_gamma_multiobjective(finished) > states[TrialState.COMPLETE])


class _EpochClock:
    """Thread CPU seconds (``time.thread_time``) of a trial's epoch loop, from the start of
    its first epoch to the end of its last (training and each epoch's validation pass: the
    span of the trial's wall "training seconds"), beside the process's CPU seconds over the
    same span as a check (with one torch thread the two agree). A context manager that wraps
    ``Trainer._train_epoch`` (the first epoch starts the clocks) and ``Trainer.fit``'s epoch
    callback (each epoch's end reads them, before the trial's own callback, which may stop
    the trial) in this worker process for the study's duration."""

    def __init__(self) -> None:
        self.cpu_s = self.process_cpu_s = 0.0
        self._start = (0.0, 0.0)
        self._running = False
        self._originals: tuple[Any, Any] | None = None

    def reset(self) -> None:
        self.cpu_s = self.process_cpu_s = 0.0
        self._running = False

    def __enter__(self) -> _EpochClock:
        from automtl.training.trainer import Trainer

        self._originals = fit, train_epoch = Trainer.fit, Trainer._train_epoch
        clock = self

        def timed_train_epoch(trainer: Any, *args: Any, **kwargs: Any) -> Any:
            if not clock._running:  # the trial's first epoch (after a resume: its first one)
                clock._start = (time.thread_time(), time.process_time())
                clock._running = True
            return train_epoch(trainer, *args, **kwargs)

        def timed_fit(trainer: Any, train: Any, valid: Any, tasks: Any, callback: Any = None,
                      **kwargs: Any) -> Any:
            def timed(epoch: int, record: Any) -> None:
                clock.cpu_s = time.thread_time() - clock._start[0]
                clock.process_cpu_s = time.process_time() - clock._start[1]
                if callback is not None:
                    callback(epoch, record)

            return fit(trainer, train, valid, tasks, callback=timed, **kwargs)

        Trainer.fit = timed_fit  # type: ignore[method-assign]
        Trainer._train_epoch = timed_train_epoch  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        from automtl.training.trainer import Trainer

        assert self._originals is not None
        Trainer.fit, Trainer._train_epoch = self._originals  # type: ignore[method-assign]


class _Reporter:
    """A trial's report hook: keeps the last epoch's result (and the checkpoint passed with it)
    and asks the scheduler (when there is one) whether to go on; a STOP or a PAUSE raises
    ``stop`` (the Trainer's ``StopTraining``; a paused trial goes on later from the
    checkpoint)."""

    def __init__(self, scheduler: Any, trial_id: str, stop: type[Exception]) -> None:
        self.scheduler, self.trial_id, self.stop = scheduler, trial_id, stop
        self.last: dict[str, Any] = {}
        self.log: list[dict[str, Any]] = []  # the epochs' records the reports carried
        self.checkpoint: Any = None  # the trainer's state passed with the last report

    def __call__(self, result: dict[str, Any], checkpoint: Any = None) -> None:
        self.last = dict(result)
        self.log.extend(result.get("automtl/epochs", []))
        self.checkpoint = checkpoint
        if self.scheduler is not None and \
                self.scheduler.decide(self.trial_id, result) in ("STOP", "PAUSE"):
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


def validation_auc_se(dataset: str, seed: int, args: dict[str, Any]) -> list[float]:
    """Per task, the standard error of an AUC of 0.8 on the validation split a study of
    ``dataset`` and ``seed`` ranks on (:func:`auc_standard_error`), for studies recorded
    without ``valid_auc_se``: the split is rebuilt as :func:`run_study` builds it."""
    from automtl.jobspec import load_job_spec
    from automtl.search.datasets import load_dataset

    with tempfile.TemporaryDirectory(prefix="automtl-anytime-") as root:
        spec = load_job_spec({
            "name": "se", "seed": seed, "search_space": COMPACT_SPACE,
            "dataset": _write_dataset(dataset, args["rows"], Path(root), seed,
                                      args.get("rare_valid_rows")),
            "tasks": [{"name": "y1", "type": "binary"}, {"name": "y2", "type": "binary"}]})
        labels = load_dataset(spec.dataset, spec.tasks, spec.seed).valid.labels
    return [auc_standard_error(labels[:, i]) for i in range(labels.shape[1])]


def noise_target(study: dict[str, Any], args: dict[str, Any]) -> float:
    """The hypervolume of ``study``'s complete trials with every AUC lowered by one standard
    error of that task's validation AUC (``valid_auc_se``, else :func:`validation_auc_se`;
    Hanley-McNeil at AUC 0.8): full TPE's final hypervolume less what the validation split
    cannot resolve."""
    from automtl.report.pareto import hypervolume

    se = study.get("valid_auc_se") or validation_auc_se(study["dataset"], study["seed"], args)
    points = [t["values"] for t in study["trials"] if t["state"] == "COMPLETE"]
    if not points:
        return 0.0
    return hypervolume(np.asarray(points, dtype=float) - np.asarray(se, dtype=float),
                       ["maximize", "maximize"], REFERENCE)


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
    """Per dataset and method, means over seeds, every method read at full TPE's training cost
    ``S`` of the same seed (and at ``S/3``, ``2S/3``) in the verdict's unit
    (``args.budget_unit``: CPU or wall seconds); the share of ``S`` to reach full TPE's final
    hypervolume also in the other units (CPU s, wall s, epochs)."""
    verdict = COST_UNITS[args.budget_unit]
    rows = []
    for dataset in args.datasets:
        tpe = {s["seed"]: s for s in studies if s["dataset"] == dataset and s["method"] == "tpe"}
        noise_targets = {seed: noise_target(study, vars(args)) for seed, study in tpe.items()}
        for method in args.methods:
            runs = sorted((s for s in studies if s["dataset"] == dataset
                           and s["method"] == method), key=lambda s: s["seed"])
            if not runs:
                continue
            curves = {unit: {s["seed"]: curve(s, key) for s in runs}
                      for unit, key in COST_UNITS.items()}
            main_curves = curves[args.budget_unit]
            row: dict[str, Any] = {"dataset": dataset, "method": method, "seeds": len(runs)}
            row["trials"] = round(statistics.fmean(  # a resumed trial's segments count once
                sum(not t.get("resumed") for t in s["trials"]) for s in runs), 1)
            row["pruned"] = round(statistics.fmean(
                sum(t["state"] == "PRUNED" for t in s["trials"]) for s in runs), 1)
            row["CPU s"] = round(statistics.fmean(c[-1][0] for c in curves["cpu"].values()), 1)
            row["train s"] = round(statistics.fmean(
                c[-1][0] for c in curves["wall"].values()), 1)
            row["epochs"] = round(statistics.fmean(
                c[-1][0] for c in curves["epochs"].values()), 1)
            row["final HV"] = round(statistics.fmean(c[-1][1] for c in main_curves.values()), 5)
            row["pruned in TPE's good group (asks)"] = round(statistics.fmean(
                s.get("pruned_fill", 0) for s in runs), 1)
            paired = [seed for seed in main_curves if seed in tpe]
            if paired:
                for fraction, label in ((1 / 3, "HV @S/3"), (2 / 3, "HV @2S/3"),
                                        (1.0, "HV @S")):
                    row[label] = round(statistics.fmean(
                        volume_at(main_curves[seed],
                                  fraction * curve(tpe[seed], verdict)[-1][0])
                        for seed in paired), 5)
                reference = {seed: curve(tpe[seed], verdict)[-1][1] for seed in paired}
                for unit, key in COST_UNITS.items():
                    shares = [_share_to(curves[unit][seed], reference[seed],
                                        curve(tpe[seed], key)[-1][0]) for seed in paired]
                    reached = [x for x in shares if math.isfinite(x)]
                    if unit == args.budget_unit:
                        row["reached TPE final HV"] = f"{len(reached)}/{len(shares)}"
                    row[f"share of S ({unit})"] = (round(statistics.fmean(reached), 3)
                                                  if reached else None)
                    row[f"within S/3 ({unit})"] = \
                        f"{sum(x <= GOAL_FRACTION + 1e-9 for x in shares)}/{len(shares)}"
                # a lenient reading beside the verdict: full TPE's final front lowered by the
                # validation AUC's standard error, reached within S/3
                near = sum(volume_at(main_curves[seed],
                                     GOAL_FRACTION * curve(tpe[seed], verdict)[-1][0])
                           >= noise_targets[seed] - 1e-12 for seed in paired)
                row["within S/3 of full TPE's final HV less 1 validation SE (not the goal)"] = \
                    f"{near}/{len(paired)}"
            rows.append(row)
    return rows


def seed_rows(studies: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Per dataset, method and seed: hypervolume at ``S/3`` and ``S`` (full TPE's cost of the
    seed, verdict unit), full TPE's final hypervolume, the share of ``S`` this method needed
    to reach it and whether that was within ``S/3`` (the goal, seed by seed)."""
    verdict = COST_UNITS[args.budget_unit]
    tpe = {(s["dataset"], s["seed"]): s for s in studies if s["method"] == "tpe"}
    rows = []
    for study in studies:
        full = tpe.get((study["dataset"], study["seed"]))
        if full is None:
            continue
        total, target = curve(full, verdict)[-1]
        points = curve(study, verdict)
        share = _share_to(points, target, total)
        rows.append({"dataset": study["dataset"], "method": study["method"],
                     "seed": study["seed"], "S": round(total, 2),
                     "HV @S/3": round(volume_at(points, GOAL_FRACTION * total), 4),
                     "HV @S": round(volume_at(points, total), 4),
                     "full TPE final HV": round(target, 4),
                     "share of S": round(share, 3) if math.isfinite(share) else None,
                     "within S/3": "yes" if share <= GOAL_FRACTION + 1e-9 else "no"})
    return rows


def noise_rows(studies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How much the load stretches each cost measure: trials that did the same work in
    several studies of one run (the same candidate, dataset and seed trained the same epochs,
    e.g. a seed's first coverage trial under every TPE method) and, per measure, the largest
    max/min ratio of their costs and its median over such groups."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for study in studies:
        for trial in study["trials"]:
            if trial.get("resumed"):  # from a checkpoint: not the same work as from scratch
                continue
            key = (study["dataset"], study["seed"], trial["candidate"], trial["epochs"])
            groups.setdefault(key, []).append(trial)
    repeated = [g for g in groups.values() if len(g) >= 2]
    if not repeated:
        return []
    row: dict[str, Any] = {"groups of identical trials": len(repeated),
                           "trials in them": sum(len(g) for g in repeated)}
    for label, key in (("wall", "train_s"), ("CPU", "cpu_s"), ("process CPU", "process_cpu_s")):
        ratios = [max(t[key] for t in g) / min(t[key] for t in g) for g in repeated
                  if min(t[key] for t in g) > 0]
        row[f"{label}: median max/min"] = round(statistics.median(ratios), 3) if ratios else None
        row[f"{label}: largest max/min"] = round(max(ratios), 3) if ratios else None
    return [row]


def spread_rows(studies: list[dict[str, Any]], args: argparse.Namespace
                ) -> list[dict[str, Any]]:
    """Run-to-run spread on fixed data: per dataset, data seed and method with at least two
    studies (sampler and training seeds differ, data the same: ``--data-seed``), the final
    hypervolume's mean, standard deviation, range and values, and the hypervolume at ``S/3``
    of the study's own cost (the verdict's unit)."""
    unit = COST_UNITS[args.budget_unit]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for study in studies:
        groups.setdefault((study["dataset"], study.get("data_seed", study["seed"]),
                           study["method"]), []).append(study)
    rows = []
    for (dataset, data_seed, method), runs in sorted(groups.items(), key=str):
        if len(runs) < 2:
            continue
        finals = [curve(s, unit)[-1][1] for s in runs]
        thirds = [volume_at(curve(s, unit), GOAL_FRACTION * curve(s, unit)[-1][0])
                  for s in runs]
        costs = [curve(s, unit)[-1][0] for s in runs]
        rows.append({"dataset": dataset, "data seed": data_seed, "method": method,
                     "sampler seeds": len(runs),
                     "final HV mean": round(statistics.fmean(finals), 4),
                     "final HV SD": round(statistics.stdev(finals), 4),
                     "final HV min": round(min(finals), 4),
                     "final HV max": round(max(finals), 4),
                     "final HV range": round(max(finals) - min(finals), 4),
                     "final HVs": " ".join(f"{v:.4f}" for v in finals),
                     "own HV @S/3 mean": round(statistics.fmean(thirds), 4),
                     "cost S mean": round(statistics.fmean(costs), 2),
                     "cost S SD": round(statistics.stdev(costs), 2)})
    return rows


def rung_rank_rows(studies: list[dict[str, Any]], methods: tuple[str, ...] = FIXED_TRIALS,
                   ) -> list[dict[str, Any]]:
    """How well an early epoch ranks the trials as their end does: per dataset and epoch, over
    the complete trials of the full-fidelity studies (``methods``) that trained that epoch
    (early stopping ends some before the last; at least 6 per study), Spearman's rank
    correlation between each objective's value at that epoch and its final value (the
    restored best epoch's), mean over studies, and the share of the final top third (by
    non-dominated sorting and crowding distance, MO-ASHA's order) that the epoch's values
    put in their top third (ASHA's promotion set at eta 3), and the median learning rate of
    each top third (median over studies: the fast-learner bias of an early rung)."""
    from scipy.stats import spearmanr

    from automtl.search.mo_asha import selection_order

    out: dict[tuple[str, int], dict[str, list[float]]] = {}
    for study in studies:
        if study["method"] not in methods:
            continue
        trials = [t for t in study["trials"] if t["state"] == "COMPLETE" and t.get("curve")]
        if len(trials) < 6:
            continue
        epochs = sorted({int(row[0]) for t in trials for row in t["curve"]})
        for epoch in epochs:
            # the trials that trained this epoch (early stopping ends some before it)
            at = [(t, next((row[1:] for row in t["curve"] if int(row[0]) == epoch), None))
                  for t in trials]
            reached = [(t, a) for t, a in at if a is not None and all(map(math.isfinite, a))]
            if len(reached) < 6:
                continue
            final = -np.asarray([t["values"] for t, _ in reached], dtype=float)  # losses
            values = np.asarray([a for _, a in reached], dtype=float)
            top = max(1, len(reached) // 3)
            final_top = set(selection_order(final)[:top].tolist())
            entry = out.setdefault((study["dataset"], epoch), {})
            entry.setdefault("n", []).append(len(reached))
            for k in range(values.shape[1]):
                rho = spearmanr(values[:, k], -final[:, k]).statistic
                if math.isfinite(rho):
                    entry.setdefault(f"rho {k + 1}", []).append(float(rho))
            early_top = set(selection_order(-values)[:top].tolist())
            entry.setdefault("overlap", []).append(len(final_top & early_top) / top)
            # the fast-learner bias: the learning rates the epoch's top third and the final
            # top third hold
            rates = [json.loads(t["candidate"])["train"]["lr"] for t, _ in reached]
            entry.setdefault("lr early", []).append(statistics.median(
                rates[i] for i in early_top))
            entry.setdefault("lr final", []).append(statistics.median(
                rates[i] for i in final_top))
    rows = []
    for (dataset, epoch), entry in sorted(out.items()):
        row: dict[str, Any] = {"dataset": dataset, "epoch": epoch,
                               "studies": len(entry["overlap"]),
                               "trials per study": round(statistics.fmean(entry["n"]), 1)}
        for key in sorted(k for k in entry if k.startswith("rho")):
            row[f"Spearman {key.split()[1]} (epoch vs final)"] = round(
                statistics.fmean(entry[key]), 3)
        row["top third kept (share of final top third)"] = round(
            statistics.fmean(entry["overlap"]), 3)
        row["median lr of the epoch's top third"] = round(
            statistics.median(entry["lr early"]), 4)
        row["median lr of the final top third"] = round(statistics.median(entry["lr final"]), 4)
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
                counts = Counter(t["topology"] for s in runs
                                 for t in [t for t in s["trials"] if not t.get("resumed")][:limit])
                rows.append({"dataset": dataset, "method": method, "trials": label,
                             **{t: counts.get(t, 0) for t in topologies}})
    return rows


def _worker_init(threads: int) -> None:
    """One torch thread per worker, and one tiny untimed trial, so the first measured trial of
    the process does not pay the first-use costs (lazy imports, allocator warm-up): on a
    first trial they were seconds of CPU, as much as a whole study's training."""
    import torch

    torch.set_num_threads(threads)
    run_study("synthetic", "tpe", 0, {"trials": 1, "rows": 300, "epochs": 1, "grace": 1,
                                      "eta": 3, "max_trials_factor": 1, "budget_unit": "cpu"})


def main(argv: list[str] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    args = parse_args(argv)
    setup_threads(args.threads)
    shared = {k: getattr(args, k) for k in ("trials", "rows", "epochs", "grace", "eta",
                                            "max_trials_factor", "budget_unit",
                                            "rare_valid_rows", "data_seed")}
    seeds = range(args.seed, args.seed + args.seeds)
    fixed = [m for m in args.methods if m in FIXED_TRIALS]
    budgeted = [m for m in args.methods if m not in FIXED_TRIALS]
    started = time.perf_counter()
    studies: list[dict[str, Any]] = []
    if args.merge:
        runs = [json.loads(path.read_text()) for path in args.merge]
        studies = [s for run in runs for s in run["studies"]]
        args.seeds = len({s["seed"] for s in studies})
        run_notes = [f"merged from {len(runs)} runs: " + "; ".join(
            f"{run['what']}, {run['elapsed_s']:.0f}s, load {run['load']}" for run in runs)]
        return _tables(studies, args, run_notes)
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
                    budget = sum(t[COST_UNITS[args.budget_unit]] for t in study["trials"])
                    pending.update({pool.submit(run_study, dataset, other, seed, shared,
                                                budget): (dataset, other, seed)
                                    for other in budgeted})
    elapsed = time.perf_counter() - started
    what = (f"{', '.join(args.datasets)}; seeds {args.seed}..{args.seed + args.seeds - 1}; "
            f"{', '.join(args.methods)}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "studies.json").write_text(json.dumps(
        {"what": what, "elapsed_s": elapsed, "load": _load(), "studies": studies}))
    return _tables(studies, args, [f"whole run {elapsed:.0f}s, load average {_load()} at the "
                                   "end"])


def _tables(studies: list[dict[str, Any]], args: argparse.Namespace,
            run_notes: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Write the tables of ``studies``; the anytime and topology rows."""
    budgeted = [m for m in args.methods if m not in FIXED_TRIALS]
    order = {m: i for i, m in enumerate(args.methods)}
    studies = [s for s in studies if s["method"] in order and s["dataset"] in args.datasets]
    studies.sort(key=lambda s: (s["dataset"], order[s["method"]], s["seed"]))
    machine = machine_line()
    unit = "thread CPU seconds" if args.budget_unit == "cpu" else "wall seconds"
    notes = [f"{args.seeds} seed(s); full-fidelity TPE: {args.trials} trials of {args.epochs} "
             f"epochs on {args.rows} rows per study"
             + (f" (rare-task data: {args.rare_valid_rows} validation rows)"
                if args.rare_valid_rows else "")
             + f", its summed training cost S ({unit} of "
             f"the epochs) is the budget of {', '.join(budgeted) or 'no other method'} on the "
             f"same dataset and seed (at most {args.max_trials_factor * args.trials} trials); "
             f"MO-ASHA grace {args.grace} eta {args.eta}; reference point [0.5, 0.5]; "
             + "; ".join(run_notes),
             f"HV @S/3, @2S/3, @S: hypervolume of the complete trials after that much training "
             f"({unit}; S = full TPE's, per seed); 'share of S (unit)': training cost to reach "
             "full TPE's final hypervolume over full TPE's, in CPU s, wall s or epochs (mean "
             "over the seeds that reached it); 'within S/3 (unit)': seeds in which that share "
             f"was at most 1/3 (the issue's goal; the verdict reads the {args.budget_unit} "
             "column)",
             "CPU s: thread CPU seconds of the trials' epoch loops (training + the epoch's "
             "validation pass, the span of the wall 'train s'), which other processes on the "
             "cores do not stretch as they stretch wall seconds (anytime_noise); epochs: "
             "epochs trained (independent of the load, blind to model size)",
             "'pruned in TPE's good group (asks)': asks at which TPE's good group (gamma(n) = "
             "10% of the finished trials) had more places than complete trials, so pruned "
             "trials filled them: the asks where ranking pruned trials by rung values (rung "
             "TPE) can change the sample"]
    anytime = anytime_rows(studies, args)
    topologies = topology_rows(studies, args, first=len(COMPACT_SPACE["topology"]["choose"]))
    curves = [{"dataset": s["dataset"], "method": s["method"], "seed": s["seed"],
               "trial": i, "state": t["state"], "epochs": t["epochs"],
               "train s": round(wall, 3), "CPU s": round(cpu, 3), "HV": round(hv, 5)}
              for s in studies
              for i, (t, (wall, _), (cpu, hv)) in enumerate(zip(
                  s["trials"], curve(s, "train_s"), curve(s, "cpu_s"), strict=True))]
    write_table(anytime, args.out, "anytime", f"Hypervolume against training cost (equal "
                f"training {unit})", machine, notes)
    write_table(seed_rows(studies, args), args.out, "anytime_seeds", "Per seed: hypervolume "
                f"at S/3 and S ({unit}) against full TPE's final", machine, notes)
    write_table(topologies, args.out, "anytime_topologies", "Trials per topology", machine, notes)
    write_table(curves, args.out, "anytime_curves", "Anytime curve points", machine, notes)
    spread = spread_rows(studies, args)
    if spread:
        write_table(spread, args.out, "anytime_spread", "Run-to-run spread of the final "
                    "hypervolume on fixed data (sampler and training seeds vary)", machine,
                    notes)
    ranks = rung_rank_rows(studies)
    if ranks:
        write_table(ranks, args.out, "anytime_rung_ranks", "Early epochs against final "
                    "values: rank correlation over full TPE's complete trials", machine, notes)
    noise = noise_rows(studies)
    if noise:
        write_table(noise, args.out, "anytime_noise", "Cost of identical trials across "
                    "studies of one run (max/min)", machine, notes)
    return anytime, topologies


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


if __name__ == "__main__":
    main()
