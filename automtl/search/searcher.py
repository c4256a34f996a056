"""Ray Tune's ``OptunaSearch``, extended for what an automtl search needs from it.

The installed ``OptunaSearch`` (ray 2.60) already takes a define-by-run ``space`` function, a
list of metrics/modes, a seeded sampler, an Optuna ``storage`` and a ``study_name`` (it calls
``create_study(load_if_exists=True)``, so a second run resumes the study). Six things it does
not do, which this subclass adds with the smallest overrides:

- **Failures.** Its ``on_trial_complete`` tells FAIL only when Tune reports an error with no
  result, keeps no error message, and with several metrics turns a result without values into
  ``tell(state=COMPLETE, values=[None, ...])``, which Optuna rejects, leaving the trial RUNNING
  forever. Here a trial whose result carries an error, a non-finite objective or no final
  report (stopped by the wall-time budget or a cancel) is told FAIL, with the reason in the
  ``automtl:error`` user attribute.
- **Constraints.** Before a result is told, the constraint values (e.g. ``params - params_max``)
  are set with ``Trial.set_constraint``, which every sampler and ``Study.best_trials`` read.
- **Records.** The sampled candidate and the trial's metrics, costs and artifact path are stored
  as trial attributes (:func:`automtl.trial_record.set_trial_attr`: short user attributes for
  optuna-dashboard, the full value of a wide one as a system attribute), so the study alone
  describes the search.
- **Pruning.** A trial the MO-ASHA scheduler stopped (:mod:`automtl.search.mo_asha`) is told
  PRUNED, with the epoch it reached, its values at each rung and its last validation metrics
  as user attributes (Optuna's multi-objective TPE then counts it among the bad trials).
- **Budget.** The budget counts COMPLETE and PRUNED trials of the study (earlier runs included),
  so failed trials are replaced, up to ``max_failures`` per run; ``suggest`` returns ``None``
  (wait) or ``FINISHED`` accordingly, and Tune runs with ``num_samples=-1``.
- **Reads.** An RDB storage is wrapped in :class:`~automtl.search.study.SnapshotStorage`, so
  a trial's sampling (and the callbacks' reads after a trial ended) read the study's trial list
  from the database once, not once per parameter group as constant-liar TPE otherwise does.
- **Stops.** When a stopper (cancel) or the wall-time budget ends the experiment, Tune stops
  the running trials without telling the searcher; :meth:`interrupt_live_trials` then tells
  them FAIL (interrupted), so no trial stays RUNNING, and the next run retries them.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from automtl.jobspec import Constraints, Objective
from automtl.search.coverage import ATTR_COVERAGE
from automtl.search.feasibility import ATTR_INFEASIBLE, InfeasibleCandidate
from automtl.search.mo_asha import MOASHAScheduler
from automtl.search.study import SnapshotStorage
from automtl.search.trainable import (
    CONFIG_KEY,
    KEY_ARTIFACT,
    KEY_EFFECTIVE_PARAMS,
    KEY_EPOCH_LOG,
    KEY_EPOCHS,
    KEY_ERROR,
    KEY_FINAL,
    KEY_LATENCY,
    KEY_NODE,
    KEY_PARAMS,
    KEY_SPARSITY,
    KEY_TEST,
    KEY_TRAIN_TIME,
    KEY_TRIAL_TIME,
    KEY_UTILISATION,
    KEY_VALID,
    unflatten_metrics,
)
from automtl.trial_record import (
    ATTR_ARTIFACT,
    ATTR_CANDIDATE,
    ATTR_CURVE,
    ATTR_EFFECTIVE_PARAMS,
    ATTR_EPOCHS,
    ATTR_ERROR,
    ATTR_INTERRUPTED,
    ATTR_LATENCY,
    ATTR_NODE,
    ATTR_PARAMS,
    ATTR_PRUNED_EPOCH,
    ATTR_RUNGS,
    ATTR_SPARSITY,
    ATTR_TEST,
    ATTR_TRAIN_TIME,
    ATTR_TRIAL_TIME,
    ATTR_UTILISATION,
    ATTR_VALID,
    finite_or_none,
    set_trial_attr,
    set_trial_attrs,
    stored_attrs,
)

logger = logging.getLogger(__name__)


class AutoMTLOptunaSearch(OptunaSearch):
    """Multi-objective ``OptunaSearch`` with failures, constraints, records and a budget.

    ``space`` is ``SearchSpace.sample``: it only calls ``trial.suggest_*`` and returns the
    candidate dict. ``error_lookup(trial_id)`` returns the error text Tune recorded for a trial
    whose worker died (so it can be stored in the study).
    """

    def __init__(
        self,
        space: Callable[[optuna.trial.BaseTrial], dict[str, Any]],
        objectives: list[Objective],
        *,
        sampler: optuna.samplers.BaseSampler,
        study_name: str,
        storage: optuna.storages.BaseStorage,
        budget_trials: int,
        max_failures: int,
        constraints: Constraints | None = None,
        error_lookup: Callable[[str], str | None] | None = None,
        scheduler: MOASHAScheduler | None = None,
    ) -> None:
        self._objectives = list(objectives)
        self._budget_trials = budget_trials
        self._max_failures = max_failures
        self._constraints = constraints or Constraints()
        self._error_lookup = error_lookup
        self._scheduler = scheduler
        self._numbers: dict[str, int] = {}
        self._curves: dict[str, dict[str, list[float | None]]] = {}
        self.failures_this_run = 0
        #: candidates refused at sampling since the last one that was trained
        self.infeasible_in_a_row = 0
        self.stop_reason: str | None = None
        # Sampling reads the trial list once per suggest instead of once per parameter group
        # (:class:`~automtl.search.study.SnapshotStorage`)
        if isinstance(storage, optuna.storages.RDBStorage):
            storage = SnapshotStorage(storage)
        self._snapshot_storage = storage if isinstance(storage, SnapshotStorage) else None
        super().__init__(
            space=space,
            metric=[o.result_key for o in objectives],
            mode=["max" if o.direction == "maximize" else "min" for o in objectives],
            sampler=sampler,
            study_name=study_name,
            storage=storage,
        )
        # PRUNED counts when MO-ASHA stopped a trained trial, not when a candidate was refused
        # at sampling (ATTR_INFEASIBLE: never trained, so it uses no budget)
        self._complete = sum(
            1 for t in self.study.get_trials(
                deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
            if ATTR_INFEASIBLE not in stored_attrs(t))

    @property
    def study(self) -> optuna.Study:
        return self._ot_study

    @property
    def complete_trials(self) -> int:
        """COMPLETE and MO-ASHA-PRUNED trials in the study (what the budget counts), earlier
        runs included; candidates refused at sampling (PRUNED, infeasible) are not counted."""
        return self._complete

    def live_trials(self) -> int:
        return len(self._ot_trials) - len(self._completed_trials)

    def number_of(self, trial_id: str) -> int | None:
        return self._numbers.get(trial_id)

    # ------------------------------------------------------------------ Tune's checkpoints

    def save(self, checkpoint_path: str) -> None:
        """Tune snapshots the searcher regularly; the Optuna study already is the durable state
        (a new :func:`~automtl.search.run_search` resumes from it), so only its name is saved,
        instead of pickling the study, the space and the driver-side hooks every few seconds."""
        with open(checkpoint_path, "w") as handle:
            json.dump({"study_name": self._study_name}, handle)

    def restore(self, checkpoint_path: str) -> None:
        raise NotImplementedError("resume a search with run_search on the same study, not with "
                                  "Tune's experiment restore")

    # ------------------------------------------------------------------ suggestions

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        live = self.live_trials()
        if self._complete >= self._budget_trials:
            self.stop_reason = self.stop_reason or "budget"
            return Searcher.FINISHED
        if self.stop_reason == "infeasible":
            return Searcher.FINISHED if live == 0 else None
        if self.failures_this_run >= self._max_failures:
            self.stop_reason = "max_failures"
            return Searcher.FINISHED if live == 0 else None
        if self._complete + live >= self._budget_trials:
            return None  # wait: a running trial may still fail and need a replacement
        with self.trial_list_snapshot():
            ot_trial = self._ot_study.ask()
            try:
                candidate = self._space(ot_trial)
            except Exception as exc:  # noqa: BLE001 - handled below, outside the snapshot
                error: Exception | None = exc
            else:
                error = None
        if isinstance(error, InfeasibleCandidate):
            return self._infeasible(ot_trial, error, live)
        if error is not None:  # a sampling error fails this trial only
            set_trial_attr(ot_trial, ATTR_ERROR,
                           f"sampling failed: {type(error).__name__}: {error}")
            self._ot_study.tell(ot_trial, state=TrialState.FAIL)
            self.failures_this_run += 1
            logger.warning("trial %d: sampling failed: %s", ot_trial.number, error)
            return None
        self.infeasible_in_a_row = 0
        if self._scheduler is not None and ot_trial.user_attrs.get(ATTR_COVERAGE):
            self._scheduler.start_coverage_trial(trial_id)
        set_trial_attrs(ot_trial, {ATTR_CANDIDATE: candidate})  # one transaction
        self._ot_trials[trial_id] = ot_trial
        self._numbers[trial_id] = ot_trial.number
        return {CONFIG_KEY: {"number": ot_trial.number, "params": dict(ot_trial.params),
                             "candidate": candidate}}

    def trial_list_snapshot(self) -> contextlib.AbstractContextManager[None]:
        """A block in which the study's trial list is read from the database once
        (:meth:`SnapshotStorage.snapshot`): all of a trial's sampling, or the bridge's reads
        after a trial ended; the driver owns every running trial, so none changes meanwhile
        unless this process tells it (which ends the snapshot). A no-op on other storages."""
        if self._snapshot_storage is None:
            return contextlib.nullcontext()
        return self._snapshot_storage.snapshot()

    def _infeasible(self, ot_trial: optuna.Trial, exc: InfeasibleCandidate,
                    live: int) -> str | None:
        """Tell Optuna the candidate is infeasible without training it: its constraint values
        set and the trial PRUNED (TPE ranks it with the infeasible trials). After as many in a
        row as ``max_failures`` allows (at least 10), the search stops (``infeasible``)."""
        for name, violation in exc.violations.items():
            ot_trial.set_constraint(name, violation)
        set_trial_attr(ot_trial, ATTR_INFEASIBLE, str(exc))
        self._ot_study.tell(ot_trial, state=TrialState.PRUNED)
        self.infeasible_in_a_row += 1
        logger.info("trial %d: %s", ot_trial.number, exc)
        if self.infeasible_in_a_row >= max(self._max_failures, 10):
            self.stop_reason = "infeasible"
            return Searcher.FINISHED if live == 0 else None
        return None

    # ------------------------------------------------------------------ results

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Keep the epochs' validation metrics for the trial's learning curve (stored when the
        trial ends); multi-objective studies take no intermediate values."""
        self._extend_curve(trial_id, result)

    def _extend_curve(self, trial_id: str, result: dict[str, Any] | None) -> None:
        """Add the epochs a result carries (its :data:`KEY_EPOCH_LOG`, or the result itself
        when it is one epoch's report without a log) that the curve does not have yet."""
        if not result:
            return
        entries = result.get(KEY_EPOCH_LOG)
        if entries is None:
            entries = [] if result.get(KEY_FINAL) or "epoch" not in result else [result]
        for entry in entries:
            curve = self._curves.setdefault(trial_id, {"epoch": []})
            epoch = int(entry["epoch"])
            if curve["epoch"] and epoch <= int(curve["epoch"][-1] or 0):
                continue  # already recorded (a log is seen by on_trial_result and complete)
            curve["epoch"].append(epoch)
            length = len(curve["epoch"])
            for task, metrics in unflatten_metrics(entry)[KEY_VALID].items():
                for metric, value in metrics.items():
                    series = curve.setdefault(f"{task}/{metric}", [None] * (length - 1))
                    series.extend([None] * (length - 1 - len(series)))
                    series.append(finite_or_none(value))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        ot_trial = self._ot_trials[trial_id]
        self._completed_trials.add(trial_id)
        # the trial's record is written in one transaction (set_trial_attrs), then told
        record: dict[str, Any] = {}
        if self._scheduler is not None:
            rungs = self._scheduler.rung_values(trial_id)
            if rungs:
                record[ATTR_RUNGS] = rungs
            pruned_at = self._scheduler.pruned_epoch(trial_id)
            if pruned_at is not None and not error:
                self._prune(ot_trial, pruned_at, result or {}, record)
                return
        values, reason, interrupted = self._judge(trial_id, result, error)
        if result is not None:
            record.update(self._record(result))
        self._extend_curve(trial_id, result)
        curve = self._curves.pop(trial_id, None)
        if curve and curve["epoch"]:
            record[ATTR_CURVE] = curve
        if values is None:
            record[ATTR_ERROR] = reason
            if interrupted:
                record[ATTR_INTERRUPTED] = True
            set_trial_attrs(ot_trial, record)
            self._ot_study.tell(ot_trial, state=TrialState.FAIL)
            if not interrupted:
                self.failures_this_run += 1
            return
        set_trial_attrs(ot_trial, record)
        self._set_constraints(ot_trial, result or {})
        self._ot_study.tell(ot_trial, values, state=TrialState.COMPLETE)
        self._complete += 1

    def _prune(self, ot_trial: optuna.Trial, epoch: int, result: dict[str, Any],
               record: dict[str, Any] | None = None) -> None:
        """Tell PRUNED a trial the scheduler stopped at ``epoch`` (its last report is kept),
        its attributes (and ``record``'s) written in one transaction first."""
        record = {**(record or {}), ATTR_PRUNED_EPOCH: int(epoch), ATTR_EPOCHS: int(epoch)}
        nested = unflatten_metrics(result)
        if nested.get(KEY_VALID):
            record[ATTR_VALID] = nested[KEY_VALID]
        train_time = finite_or_none(result.get(KEY_TRAIN_TIME))
        if train_time is not None:
            record[ATTR_TRAIN_TIME] = train_time
        set_trial_attrs(ot_trial, record)
        self._ot_study.tell(ot_trial, state=TrialState.PRUNED)
        self._complete += 1

    def interrupt_live_trials(self, reason: str) -> list[int]:
        """Tell FAIL (interrupted) every trial still running; their numbers.

        When a stopper or the wall-time budget ends an experiment, Tune stops the running
        trials without telling the searcher, which would leave them RUNNING in the study.
        """
        numbers = []
        for trial_id, ot_trial in self._ot_trials.items():
            if trial_id in self._completed_trials:
                continue
            self._completed_trials.add(trial_id)
            set_trial_attr(ot_trial, ATTR_ERROR, f"interrupted before it finished ({reason})")
            set_trial_attr(ot_trial, ATTR_INTERRUPTED, True)
            self._ot_study.tell(ot_trial, state=TrialState.FAIL)
            numbers.append(ot_trial.number)
        return numbers

    def _judge(self, trial_id: str, result: dict[str, Any] | None,
               error: bool) -> tuple[list[float] | None, str, bool]:
        """(values, failure reason, interrupted): values is None for a failed trial."""
        if error:
            detail = self._error_lookup(trial_id) if self._error_lookup else None
            return None, detail or "the trial's worker failed (see the Ray Tune error file)", \
                False
        if not result or not result.get(KEY_FINAL):
            return None, "interrupted before it finished (wall-time budget or cancel)", True
        if result.get(KEY_ERROR):
            return None, str(result[KEY_ERROR]), False
        values = []
        for objective in self._objectives:
            value = finite_or_none(result.get(objective.result_key))
            if value is None:
                return None, (f"objective {objective.name!r} is "
                              f"{result.get(objective.result_key)!r} (not a finite number)"), \
                    False
            values.append(value)
        return values, "", False

    @staticmethod
    def _record(result: dict[str, Any]) -> dict[str, Any]:
        """The trial attributes a final result is recorded as."""
        record: dict[str, Any] = {}
        nested = unflatten_metrics(result)
        if nested.get(KEY_VALID):
            record[ATTR_VALID] = nested[KEY_VALID]
        if nested.get(KEY_TEST):
            record[ATTR_TEST] = nested[KEY_TEST]
        for key, attr in ((KEY_PARAMS, ATTR_PARAMS), (KEY_LATENCY, ATTR_LATENCY),
                          (KEY_TRAIN_TIME, ATTR_TRAIN_TIME), (KEY_TRIAL_TIME, ATTR_TRIAL_TIME),
                          (KEY_EPOCHS, ATTR_EPOCHS),
                          (KEY_EFFECTIVE_PARAMS, ATTR_EFFECTIVE_PARAMS),
                          (KEY_SPARSITY, ATTR_SPARSITY),
                          (KEY_ARTIFACT, ATTR_ARTIFACT), (KEY_NODE, ATTR_NODE)):
            if result.get(key) is not None and (key in (KEY_ARTIFACT, KEY_NODE)
                                                or finite_or_none(result[key]) is not None):
                record[attr] = result[key]
        prefix = f"{KEY_UTILISATION}/"
        utilisation = {k[len(prefix):]: [float(w) for w in v] for k, v in result.items()
                       if k.startswith(prefix)}
        if utilisation:
            record[ATTR_UTILISATION] = utilisation
        return record

    def _set_constraints(self, ot_trial: optuna.Trial, result: dict[str, Any]) -> None:
        bounds = {"params_max": (KEY_PARAMS, self._constraints.params_max),
                  "latency_ms_max": (KEY_LATENCY, self._constraints.latency_ms_max)}
        for name, (key, bound) in bounds.items():
            if bound is None:
                continue
            value = finite_or_none(result.get(key))
            # A cost that could not be measured counts as violating its bound.
            violation = (value - bound) if value is not None else float(bound)
            ot_trial.set_constraint(name, violation)
