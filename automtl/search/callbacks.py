"""How the caller of a search hears about it as it runs, and how it can stop it.

The library writes nothing but the Optuna study and the trial artifacts; a caller that wants
more (the service's SQL rows, a progress bar) passes a :class:`SearchCallbacks`. The runner
adapts it to Ray Tune with :class:`TuneBridge` (a ``ray.tune.Callback`` running in the driver,
after the searcher has told Optuna, so each :class:`TrialOutcome` is read back from the study)
and :class:`CancelStopper` (a ``ray.tune.Stopper`` that polls :meth:`SearchCallbacks.should_stop`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from ray import tune

from automtl.jobspec import JobSpec
from automtl.trial_record import TrialOutcome, outcome_from_trial, stored_attrs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """Where a search stands: trial counts are study-wide (earlier runs included).

    ``finished`` counts every trial that ended: ``complete`` + ``pruned`` (stopped by MO-ASHA)
    + ``failed`` + ``infeasible`` (refused at sampling by a constraint, never trained) +
    ``interrupted`` (stopped before it finished by a cancel, the wall-time budget or a worker
    shutting down: not a failure). The budget counts ``complete + pruned`` (:attr:`counted`)."""

    finished: int
    failed: int
    running: int
    budget: int
    front_size: int
    hypervolume: float | None
    elapsed_s: float
    complete: int = 0
    pruned: int = 0
    infeasible: int = 0
    interrupted: int = 0

    @property
    def counted(self) -> int:
        """The trials the budget counts (complete + pruned)."""
        return self.complete + self.pruned


#: the stages of a search, in order (:meth:`SearchCallbacks.on_stage`)
STAGES = ("preparing", "searching", "confirming", "reporting")


@dataclass(frozen=True)
class Stage:
    """Which stage of :data:`STAGES` a search is in: ``preparing`` (loading the data, opening
    the study), ``searching`` (Ray Tune's trials),
    ``confirming`` (re-training the front with ``confirm.seeds`` seeds, one run at a time:
    ``done`` of ``total`` runs finished, ``note`` names the run now training) and ``reporting``
    (the front and the parameter importances)."""

    name: str
    done: int = 0
    total: int | None = None
    note: str | None = None

    def line(self) -> str:
        """``confirming 4/15: trial 12 (mmoe, front) seed 2/3`` (``searching`` alone)."""
        count = f" {self.done}/{self.total}" if self.total is not None else ""
        return f"{self.name}{count}" + (f": {self.note}" if self.note else "")


class SearchCallbacks:
    """Hooks a search calls in the driver; every method is optional (the defaults do nothing).

    Exceptions raised by a hook are logged and swallowed: a broken listener does not kill a
    search whose results are safe in the study anyway.
    """

    def on_dataset(self, summary: dict[str, Any]) -> None:
        """The dataset was loaded and passed its checks, before any trial: the detected schema
        (each feature's kind and why), split sizes and labelled rows per task and split
        (:meth:`automtl.data.TabularDataset.summary`)."""

    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        """Trial ``number`` started with these Optuna parameters."""

    def on_epoch(self, number: int, epoch: int, metrics: dict[str, float]) -> None:
        """Trial ``number`` finished an epoch; ``metrics`` are flat (``valid/t1/auc``)."""

    def on_trial_complete(self, outcome: TrialOutcome) -> None:
        """A trial finished (COMPLETE or FAIL); its outcome as recorded in the study."""

    def on_progress(self, progress: Progress) -> None:
        """Counts, front size and hypervolume after each trial start and finish."""

    def on_stage(self, stage: Stage) -> None:
        """The search entered a stage (:class:`Stage`), or, while confirming, a confirmation
        run is about to start (and once more when the last one finished)."""

    def on_resume(self, resumed: dict[str, Any]) -> None:
        """The study existed (a rerun): what was kept and retried, before the first new
        trial: ``study``, ``budget`` (``budget.trials``), the study's ended trials by kind
        (:func:`trial_counts`: ``complete``, ``pruned``, ``failed``, ``interrupted``,
        ``infeasible``) and ``requeued`` (numbers of the interrupted trials run again)."""

    def should_stop(self) -> bool:
        """Polled by the runner (every Ray Tune step, ~0.1 s, and before every batch of a
        confirmation run: keep it cheap); ``True`` stops the search (running trials are
        interrupted at their next batch)."""
        return False

    def on_search_end(self, stop_reason: str) -> None:
        """The study is final: every trial is recorded (interrupted ones as failed; the front
        and, unless cancelled, the importances stored); ``stop_reason`` is
        :attr:`SearchResult.stop_reason <automtl.search.runner.SearchResult>`. Called once.
        A search cancelled while its trials run calls it as soon as Ray Tune has stopped them
        (their processes may still be ending), before Tune's cleanup and before
        :func:`~automtl.search.run_search` shuts down the Ray it started, so a cancel is
        recorded without waiting for either."""


#: Tune pickles its run config (callbacks, stopper) into ``tuner.pkl`` for ``Tuner.restore``,
#: which automtl does not use (a search resumes through ``run_search`` and its study). So the
#: driver-side hooks pickle to this note, and a caller's callbacks need not be picklable.
_UNPICKLED_NOTE = {"note": "driver-side automtl hook; not restorable through Tune"}


class CancelStopper(tune.Stopper):
    """Stops the whole experiment when the caller's :meth:`SearchCallbacks.should_stop` says so,
    and then calls ``on_stop`` once (the runner raises the trials'
    :class:`~automtl.search.stop_signal.StopSignal` there)."""

    def __init__(self, callbacks: SearchCallbacks,
                 on_stop: Callable[[], None] | None = None) -> None:
        self._callbacks = callbacks
        self._on_stop = on_stop
        self.cancelled = False

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def __getstate__(self) -> dict[str, Any]:
        return _UNPICKLED_NOTE

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(SearchCallbacks())  # type: ignore[misc]

    def stop_all(self) -> bool:
        if not self.cancelled:
            self.cancelled = bool(_safe(self._callbacks.should_stop, default=False))
            if self.cancelled and self._on_stop is not None:
                _safe(self._on_stop)
        return self.cancelled


class TuneBridge(tune.Callback):
    """Turns Ray Tune's trial events into :class:`SearchCallbacks` calls, reading the study."""

    def __init__(self, callbacks: SearchCallbacks, spec: JobSpec) -> None:
        self._callbacks = callbacks
        self._spec = spec
        self._searcher: Any = None
        self._objective_names = list(spec.objectives)
        self._trials: dict[str, Any] = {}
        self._announced: dict[str, int] = {}
        self._front: dict[str, Any] | None = None
        self._started = time.monotonic()
        self.train_time_s = 0.0
        self._stopper: CancelStopper | None = None
        self._on_stopped: Callable[[], None] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return _UNPICKLED_NOTE

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._callbacks = SearchCallbacks()
        self._searcher, self._trials, self._front = None, {}, None
        self._announced = {}
        self._stopper, self._on_stopped = None, None

    def watch_stop(self, stopper: CancelStopper, on_stopped: Callable[[], None]) -> None:
        """Call ``on_stopped`` once, at the end of the Tune step in which ``stopper`` stopped
        the experiment: Tune has then ended every trial (their pending results are dropped)
        and starts no new one, before its cleanup waits for the trials' processes."""
        self._stopper, self._on_stopped = stopper, on_stopped

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if self._on_stopped is not None and self._stopper is not None \
                and self._stopper.cancelled:
            on_stopped, self._on_stopped = self._on_stopped, None
            _safe(on_stopped)

    def attach(self, searcher: Any) -> None:
        """The :class:`~automtl.search.searcher.AutoMTLOptunaSearch` whose trials these are."""
        self._searcher = searcher

    @property
    def _study(self) -> optuna.Study:
        return self._searcher.study

    def _number_of(self, trial_id: str) -> int | None:
        return self._searcher.number_of(trial_id)

    def error_of(self, trial_id: str) -> str | None:
        """The error text Tune recorded for a trial (when its worker died), if any."""
        trial = self._trials.get(trial_id)
        if trial is None:
            return None
        error = _safe(trial.get_error, default=None)
        return str(error)[-4000:] if error else None

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._trials[trial.trial_id] = trial
        number = self._number_of(trial.trial_id)
        if number is not None:
            params = trial.config.get("automtl", {}).get("params", {})
            _safe(self._callbacks.on_trial_start, number, dict(params))
        self._progress(refresh=False)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        self._epochs(trial.trial_id, result)

    def _epochs(self, trial_id: str, result: dict | None) -> None:
        """``on_epoch`` for every epoch a result carries that was not announced yet: the
        records of its epoch log (``automtl/epochs``, see
        :func:`automtl.search.trainable.report_epochs`), or the result itself when it is one
        epoch's report without a log."""
        number = self._number_of(trial_id)
        if number is None or not result:
            return
        entries = result.get("automtl/epochs")
        if entries is None:
            entries = [] if result.get("automtl/final") or "epoch" not in result else [result]
        for entry in entries:
            epoch = int(entry["epoch"])
            if epoch <= self._announced.get(trial_id, 0):
                continue
            self._announced[trial_id] = epoch
            metrics = {k: v for k, v in entry.items()
                       if isinstance(k, str) and k.startswith(("valid/", "objective/"))}
            _safe(self._callbacks.on_epoch, number, epoch, metrics)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._epochs(trial.trial_id, getattr(trial, "last_result", None))
        self._finished(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finished(trial)

    def report_finished(self, numbers: list[int]) -> None:
        """Announce trials the runner finished itself (those interrupted by a stop)."""
        for number in numbers:
            self._announce(number)

    def _finished(self, trial: Any) -> None:
        number = self._number_of(trial.trial_id)
        self._trials.pop(trial.trial_id, None)
        self._announced.pop(trial.trial_id, None)
        if number is not None:
            self._announce(number)

    def _announce(self, number: int) -> None:
        # the outcome, the counts and the front from one read of the trial list
        snapshot = getattr(self._searcher, "trial_list_snapshot", contextlib.nullcontext)
        with snapshot():
            self._announce_from_study(number)

    def _announce_from_study(self, number: int) -> None:
        frozen = self._study.get_trials(deepcopy=False)[number]
        outcome = outcome_from_trial(frozen, self._objective_names)
        if outcome.train_time_s:
            self.train_time_s += outcome.train_time_s
        _safe(self._callbacks.on_trial_complete, outcome)
        self._progress()

    def _progress(self, refresh: bool = True) -> None:
        """Report progress; the front (a read of every trial) is recomputed only when a trial
        finished (``refresh``), a start reuses the last one."""
        from automtl.report.pareto import pareto_front

        if refresh or self._front is None:
            self._front = _safe(pareto_front, self._study, self._spec, default=None)
        if self._front is None:
            return
        counts = _safe(trial_counts, self._study, default=None)
        if counts is None:
            return
        progress = Progress(
            finished=sum(counts.values()), failed=counts["failed"],
            running=int(self._searcher.live_trials()), budget=self._spec.budget.trials,
            front_size=len(self._front["trials"]), hypervolume=self._front["hypervolume"],
            elapsed_s=time.monotonic() - self._started, complete=counts["complete"],
            pruned=counts["pruned"], infeasible=counts["infeasible"],
            interrupted=counts["interrupted"])
        _safe(self._callbacks.on_progress, progress)


def trial_counts(study: optuna.Study) -> dict[str, int]:
    """The study's ended trials by kind: ``complete``, ``pruned`` (stopped early by the
    scheduler), ``failed``, ``interrupted`` (FAIL with the interruption mark: stopped by a
    cancel, the wall-time budget or a worker shutting down) and ``infeasible`` (PRUNED at
    sampling with the infeasibility mark, never trained); running and waiting trials are not
    counted."""
    from optuna.trial import TrialState

    from automtl.trial_record import ATTR_INFEASIBLE, ATTR_INTERRUPTED

    counts = {"complete": 0, "pruned": 0, "failed": 0, "infeasible": 0, "interrupted": 0}
    for trial in study.get_trials(deepcopy=False):
        if trial.state == TrialState.COMPLETE:
            counts["complete"] += 1
        elif trial.state == TrialState.FAIL:
            counts["interrupted" if stored_attrs(trial).get(ATTR_INTERRUPTED) else "failed"] += 1
        elif trial.state == TrialState.PRUNED:
            counts["infeasible" if ATTR_INFEASIBLE in stored_attrs(trial) else "pruned"] += 1
    return counts


def _safe(function: Any, *args: Any, default: Any = None) -> Any:
    try:
        return function(*args)
    except Exception:  # noqa: BLE001 - a listener's bug must not end the search
        logger.exception("search callback %s failed", getattr(function, "__name__", function))
        return default
