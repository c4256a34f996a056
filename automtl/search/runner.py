"""The search runner: Ray Tune workers, Optuna's multi-objective sampler, limits and resources.

The three parts are kept apart as in Ray's ``optuna_define_by_run_example``: the trainable
(:mod:`automtl.search.trainable`), the space function (``SearchSpace.sample``) and this runner,
which wires them with ``Tuner`` + :class:`~automtl.search.searcher.AutoMTLOptunaSearch` (metric
and mode lists on the searcher, not on ``TuneConfig``), a ``ConcurrencyLimiter``,
``tune.with_resources`` (fractional GPUs allowed), ``reuse_actors=True`` and the wall-time
budget ``TuneConfig.time_budget_s``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automtl import artifact_store
from automtl.jobspec import JobSpec, load_job_spec
from automtl.search.callbacks import (
    CancelStopper,
    SearchCallbacks,
    Stage,
    TuneBridge,
    _safe,
    trial_counts,
)
from automtl.search.coverage import enqueue_coverage, topology_summary
from automtl.search.datasets import load_dataset, search_vocabulary
from automtl.search.samplers import make_sampler
from automtl.search.stop_signal import StopSignal
from automtl.search.study import check_study, existing_trials, open_storage, recover_study
from automtl.search.testing import FailureInjection
from automtl.search.trainable import TrialContext, train_candidate
from automtl.search.warm_start import WarmStartResolver, enqueue_warm_start, resolve_directory
from automtl.trial_record import STUDY_DATA_WARNINGS_ATTR, set_study_attr

logger = logging.getLogger(__name__)

DEFAULT_ARTIFACT_DIR = "automtl-runs"


@dataclass(frozen=True)
class SearchResult:
    """What one :func:`run_search` call did; the front is read from the study afterwards."""

    study_name: str
    storage_url: str
    artifact_dir: str
    front: dict[str, Any]
    complete: int
    failed: int
    stop_reason: str
    wall_time_s: float
    train_time_s: float
    requeued: list[int]
    coverage_trials: int = 0
    topologies: dict[str, Any] | None = None
    confirmation: dict[str, Any] | None = None
    warm_started: list[int] | None = None
    #: e.g. "0 of 12 trials meet params_max 5,000 (smallest 10,546)"; None without params_max
    constraints: str | None = None
    #: trials stopped before they finished (a cancel, the time limit, a shutdown): FAIL in the
    #: study with ``automtl:interrupted``, not counted in ``failed``
    interrupted: int = 0


def default_storage_url(artifact_dir: str | Path) -> str:
    """SQLite file ``<artifact_dir>/automtl.db``."""
    return f"sqlite:///{Path(artifact_dir).resolve() / 'automtl.db'}"


def run_search(
    spec: JobSpec | Mapping[str, Any] | str | Path,
    callbacks: SearchCallbacks | None = None,
    *,
    storage_url: str | None = None,
    artifact_dir: str | Path = DEFAULT_ARTIFACT_DIR,
    study_name: str | None = None,
    ray_address: str | None = None,
    num_cpus: int | None = None,
    dataset_resolver: Callable[[str], Path] | None = None,
    warm_start_resolver: WarmStartResolver | None = None,
    failure_injection: FailureInjection | None = None,
    artifact_url: str | None = None,
) -> SearchResult:
    """Run (or resume) a whole search and return its front.

    ``storage_url`` is the Optuna RDB URL (default: SQLite in ``artifact_dir``); the study is
    ``study_name`` or ``automtl-<spec.name>``; weights go to ``<artifact_dir>/<study>/
    trial-<n>/``. Ray is started locally (``num_cpus`` default: this machine's) unless
    ``ray_address`` names a cluster; a Ray this call did not start is left running. Calling it
    again for the same study resumes it: the budget counts COMPLETE trials of the study.

    With ``spec.warm_start``, a new study first gets the earlier study's front
    (``warm_start_resolver`` maps the reference to a storage URL and study name; by default a
    local ``directory``). A new study then gets the coverage trials of
    :mod:`automtl.search.coverage` (every topology and weighting once). Raises
    :class:`~automtl.search.study.SpecChangedError` when the study exists but was made by a
    spec that differs in a field of :data:`~automtl.search.fingerprint.IDENTITY_FIELDS` (its
    message names them).

    ``artifact_url`` (an fsspec URL, :mod:`automtl.artifact_store`): trial weights go to
    ``<artifact_url>/<study>/trial-<n>`` instead, where every node and the API can read them
    (``artifact_dir`` still holds Ray's and the default Optuna files).

    ``failure_injection`` is for test suites only (:mod:`automtl.search.testing`).

    When ``callbacks.should_stop()`` turns True (polled every Tune step), Tune starts no new
    trial, the running ones end at their next batch (:mod:`automtl.search.stop_signal`) and are
    told FAIL (interrupted), and ``callbacks.on_search_end("cancelled")`` is called at once,
    before Tune's cleanup and the shutdown of a Ray this call started; the result's
    ``stop_reason`` is ``cancelled``.

    A :class:`JobSpec` given here is used as is (validated and its space compiled once, when
    it was built); a mapping, path or text is validated here.
    """
    import ray
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter

    started = time.monotonic()
    spec = load_job_spec(spec)
    callbacks = callbacks or SearchCallbacks()
    _enter(callbacks, Stage("preparing"))
    name = study_name or spec.study_name
    artifact_root = Path(artifact_dir).resolve()
    url = storage_url or default_storage_url(artifact_root)
    # bad input (data, search space) fails before anything is written
    space = spec.space  # compiled when the spec was validated
    left_out = space.left_out_note()  # a preset's topologies that need a field the job lacks
    if left_out:
        logger.info("%s: %s", name, left_out)
    # encoded once at the loosest vocabulary cap the space searches; each trial narrows it
    dataset = load_dataset(spec.dataset, spec.tasks, spec.seed, dataset_resolver,
                           search_vocabulary(spec.dataset, space.vocabulary_values()),
                           domains=spec.domains)
    on_dataset = getattr(callbacks, "on_dataset", None)
    if on_dataset is not None:
        _safe(on_dataset, dataset.summary())
    artifact_root.mkdir(parents=True, exist_ok=True)
    storage = open_storage(url)
    scheduler = make_scheduler(spec)
    # A resumed study gets a sampler seeded past the trials it already has, so the seeded
    # startup trials of the first run are not proposed again; with MO-ASHA, TPE ranks the
    # pruned trials by their rung values.
    sampler = make_sampler(spec.sampler, spec.seed + existing_trials(storage, name),
                           spec.budget.trials,
                           rung_modes=scheduler.modes if scheduler is not None else None)
    max_failures = spec.budget.max_failures
    if max_failures is None:
        max_failures = spec.budget.trials

    bridge = TuneBridge(callbacks, spec)
    with _quiet("optuna", logging.WARNING):  # no "A new study created" line in a quiet CLI
        searcher = _make_searcher(space, spec, sampler, name, storage, max_failures,
                                  bridge.error_of, scheduler, dataset.schema,
                                  len(dataset.train))
    bridge.attach(searcher)
    study = searcher.study
    check_study(study, spec)
    store_data_warnings(study, dataset.warnings)
    # resuming only if the study had trials before this run (warm start and coverage below
    # enqueue WAITING trials into a new study too)
    resumed = bool(study.get_trials(deepcopy=False))
    warm: list[int] = []
    if spec.warm_start is not None:
        source_url, source_study = (warm_start_resolver or resolve_directory)(spec.warm_start)
        warm = enqueue_warm_start(study, space, source_url, source_study)
    coverage = enqueue_coverage(study, space, spec.seed, max(0, spec.budget.trials - len(warm)))
    requeued = recover_study(study, storage)
    if resumed:  # a rerun: say what it kept and what it retries
        info = {"study": name, "budget": spec.budget.trials, **trial_counts(study),
                "requeued": requeued}
        logger.info("%s: resuming: %s", name, info)
        _safe(getattr(callbacks, "on_resume", _no_hook), info)

    _enter(callbacks, Stage("searching"))
    trials_root = artifact_store.join(artifact_url, name) if artifact_url \
        else str(artifact_root / name)
    stop_signal = StopSignal(trials_root)  # this run's: raised when the search stops
    context = TrialContext(spec=spec, inputs=dataset.schema, train=dataset.train,
                           valid=dataset.valid, test=dataset.test, artifact_root=trials_root,
                           failure_injection=failure_injection, stop_signal=stop_signal)
    ended: list[str] = []

    def end_search(stop_reason: str) -> None:
        """``on_search_end``, once."""
        if not ended:
            ended.append(stop_reason)
            _safe(getattr(callbacks, "on_search_end", _no_hook), stop_reason)

    def on_cancelled() -> None:
        """Tune has just stopped every trial (their results can no longer reach the study) and
        will start none: the study is final once the running trials are told interrupted,
        though their processes may still be ending (Tune's cleanup, up to 5 s)."""
        bridge.report_finished(searcher.interrupt_live_trials("cancelled"))
        end_search("cancelled")

    def stop_asked() -> bool:
        return bool(_safe(callbacks.should_stop, default=False))

    # a cancelled search shuts its Ray down last, after on_search_end (the caller records the
    # cancel without waiting for it); otherwise Ray is down before a confirmation trains here
    with contextlib.ExitStack() as ray_session:
        stop_reason = "budget"
        if searcher.complete_trials < spec.budget.trials and stop_asked():
            # asked while preparing (a job cancelled as its worker claimed it): no Ray starts
            stop_reason = "cancelled"
        elif searcher.complete_trials < spec.budget.trials:
            # Tune's default CSV/JSON/TensorBoard loggers write every result to disk; the study
            # and the artifacts are the record here, so they are off.
            os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
            os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # verbose=0 then prints nothing
            if _ensure_ray(ray, ray_address, num_cpus):
                ray_session.callback(ray.shutdown)
            stopper = CancelStopper(callbacks, on_stop=stop_signal.raise_)
            bridge.watch_stop(stopper, on_cancelled)
            stop_reason = "error"  # until Tune returns
            try:
                if stop_asked():  # asked while Ray started (seconds): no trial starts
                    stop_reason = "cancelled"
                else:
                    tuner = tune.Tuner(
                        tune.with_resources(
                            tune.with_parameters(train_candidate, context=context),
                            spec.resources.ray_request(),
                        ),
                        tune_config=tune.TuneConfig(
                            search_alg=ConcurrencyLimiter(searcher,
                                                          max_concurrent=spec.budget.concurrency),
                            num_samples=-1,
                            scheduler=scheduler,
                            time_budget_s=spec.budget.time_limit_s,
                            reuse_actors=True,
                            trial_dirname_creator=lambda trial: f"trial-{trial.trial_id}",
                        ),
                        run_config=tune.RunConfig(
                            name=f"{name}-{time.strftime('%Y%m%d-%H%M%S')}",
                            storage_path=str(artifact_root / "ray"),
                            stop=stopper,
                            callbacks=[bridge],
                            failure_config=tune.FailureConfig(max_failures=0),
                            verbose=0,
                        ),
                    )
                    with _quiet("ray.tune.analysis.experiment_analysis"), \
                            _quiet("ray.tune", logging.WARNING):
                        tuner.fit()  # (it warns that the disabled loggers left no result files)
                    stop_reason = _stop_reason(stopper, searcher, spec.budget.trials,
                                               spec.budget.time_limit_s)
            finally:
                bridge.report_finished(searcher.interrupt_live_trials(stop_reason))
                stop_signal.clear()
                if stop_reason != "cancelled":
                    ray_session.close()

        from automtl.search.confirm import confirmation_of, run_confirmation

        confirmation = confirmation_of(study)
        done = confirmation is not None and confirmation.get("seeds") == spec.confirm.seeds and \
            not requeued and searcher.complete_trials == confirmation.get("complete_trials")
        if spec.confirm.seeds and stop_reason == "budget" and not done:

            # A confirmation run trains with the threads of one search trial (its
            # cpus_per_trial), not every core: these small models gain nothing from more, and
            # on a busy machine torch's threads wait for each other. Measured on 2 loaded cores
            # (benchmarks/README.md section 11): a run took 13.7x as long with 2 threads as
            # with 1.
            torch_threads = max(1, int(spec.resources.cpus_per_trial))
            current = Stage("confirming")

            def should_stop() -> bool:
                return bool(_safe(callbacks.should_stop, default=False))

            last_line = [time.monotonic()]

            def on_run(done: int, total: int, note: str) -> None:
                nonlocal current
                current = Stage("confirming", done, total, note)
                last_line[0] = time.monotonic()
                _enter(callbacks, current)

            def on_epoch(epoch: int, epochs: int) -> None:
                # the next run's line (or "done") follows the last epoch; a run whose epochs
                # take seconds says nothing in between
                if epoch < epochs and time.monotonic() - last_line[0] >= CONFIRM_EPOCH_LINE_S:
                    last_line[0] = time.monotonic()
                    _enter(callbacks, Stage("confirming", current.done, current.total,
                                            f"{current.note}, epoch {epoch}/{epochs} done"))

            confirmation = run_confirmation(
                study, spec, functools.partial(_confirm_one, context=context,
                                               threads=torch_threads, should_stop=should_stop,
                                               on_epoch=on_epoch),
                on_progress=logger.info, should_stop=should_stop, on_run=on_run)
            if confirmation is None:  # cancelled while confirming: nothing was stored
                stop_reason = "cancelled"

        from automtl.report.pareto import pareto_front
        from automtl.search.feasibility import constraint_summary

        _enter(callbacks, Stage("reporting"))
        front = pareto_front(study, spec)
        from automtl.report.importances import store_importances

        # so the report's first GET need not fit them; a cancelled study is final already
        # (its job may be recorded cancelled, and its report cached): no more writes
        if stop_reason != "cancelled":
            store_importances(study, front["objectives"])
        counts = trial_counts(study)  # a trial a stop interrupted is not a failure
        result = SearchResult(
            study_name=name, storage_url=url, artifact_dir=str(artifact_root / name), front=front,
            complete=searcher.complete_trials, failed=counts["failed"],
            interrupted=counts["interrupted"], stop_reason=stop_reason,
            wall_time_s=time.monotonic() - started, train_time_s=bridge.train_time_s,
            requeued=requeued, coverage_trials=coverage, warm_started=warm,
            topologies=topology_summary(study, spec.objective_list()), confirmation=confirmation,
            constraints=constraint_summary(study, spec.constraints))
        end_search(result.stop_reason)
    return result


def store_data_warnings(study: Any, warnings: list[str]) -> None:
    """Keep the data's warnings with the study (the front, REST /pareto and the report say
    them) and log them at INFO: the caller got them in the dataset summary (``on_dataset``:
    the CLI prints them there, the service answers them at submit), and a WARNING record
    reached the terminal a second time through Python's last-resort handler."""
    for warning in warnings:
        logger.info("%s: data warning: %s", study.study_name, warning)
    set_study_attr(study, STUDY_DATA_WARNINGS_ATTR, warnings)


def _no_hook(*args: Any) -> None:
    """Stands in for a hook a duck-typed callbacks object lacks."""


def _enter(callbacks: SearchCallbacks, stage: Stage) -> None:
    """Tell the caller's :meth:`SearchCallbacks.on_stage` (a callbacks object without the hook,
    one written before it existed, is skipped)."""
    logger.info("stage: %s", stage.line())
    hook = getattr(callbacks, "on_stage", None)
    if hook is not None:
        _safe(hook, stage)


def _confirm_one(candidate: dict[str, Any], seed: int, *, context: Any, threads: int,
                 should_stop: Callable[[], bool] | None = None,
                 on_epoch: Callable[[int, int], None] | None = None,
                 ) -> dict[str, dict[str, float]]:
    import torch

    from automtl.search.trainable import train_for_confirmation

    torch.set_num_threads(threads)
    return train_for_confirmation(candidate, seed, context, should_stop, on_epoch)


#: why a search stopped (:attr:`SearchResult.stop_reason`), in words for a reader
STOP_REASON_TEXT: dict[str, str] = {
    "budget": "its trial budget was used up",
    "cancelled": "it was cancelled (Ctrl-C, SIGTERM or a cancel request)",
    "max_failures": "budget.max_failures trials failed",
    "infeasible": "every recent candidate violated a constraint known before training",
    "time_limit": "its time limit (budget.time_limit_s) ran out",
    "incomplete": "Ray Tune stopped placing trials before the budget was used up",
    "error": "an error",
}


def stop_reason_text(reason: str) -> str:
    """``"it was cancelled (Ctrl-C, ...)"`` for ``"cancelled"``: a stop reason in words
    (:data:`STOP_REASON_TEXT`; an unknown one as it is)."""
    return STOP_REASON_TEXT.get(reason, reason)


def _stop_reason(stopper: CancelStopper, searcher: Any, budget: int,
                 time_limit_s: float | None) -> str:
    """Why Tune returned: ``budget``, ``cancelled``, ``max_failures``, ``time_limit`` (only
    when the spec set one) or ``incomplete`` (Tune gave up early on its own, e.g. no node of
    the cluster could hold a trial's resources)."""
    if stopper.cancelled:
        return "cancelled"
    if searcher.stop_reason == "max_failures":
        return "max_failures"
    if searcher.stop_reason == "infeasible":
        return "infeasible"
    if searcher.complete_trials < budget:
        return "time_limit" if time_limit_s is not None else "incomplete"
    return "budget"


def make_scheduler(spec: JobSpec) -> Any:
    """The job's Ray Tune trial scheduler: :class:`~automtl.search.mo_asha.MOASHAScheduler`
    for ``scheduler.name: mo_asha``, else ``None`` (Tune's FIFO: every trial runs to its end)."""
    if spec.scheduler.name != "mo_asha":
        return None
    from automtl.search.mo_asha import MOASHAScheduler

    objectives = spec.objective_list()
    # Latency is only measured at a trial's end; rungs rank the task metrics (and params).
    ranked = [o for o in objectives if o.name != "latency_ms"] or objectives
    return MOASHAScheduler([o.result_key for o in ranked],
                           ["max" if o.direction == "maximize" else "min" for o in ranked],
                           grace_epochs=spec.scheduler.grace_epochs,
                           reduction_factor=spec.scheduler.reduction_factor,
                           max_epochs=spec.budget.epochs,
                           coverage=spec.scheduler.coverage)


def _make_searcher(space: Any, spec: JobSpec, sampler: Any, name: str, storage: Any,
                   max_failures: int, error_lookup: Callable[[str], str | None],
                   scheduler: Any = None, inputs: Any = None,
                   train_rows: int | None = None) -> Any:
    from automtl.search.searcher import AutoMTLOptunaSearch

    return AutoMTLOptunaSearch(
        functools.partial(_sample_for_job, space, spec, inputs=inputs, train_rows=train_rows),
        spec.objective_list(),
        sampler=sampler, study_name=name, storage=storage,
        budget_trials=spec.budget.trials, max_failures=max_failures,
        constraints=spec.constraints, error_lookup=error_lookup, scheduler=scheduler)


def _sample_for_job(space: Any, spec: JobSpec, trial: Any,
                    inputs: Any = None, train_rows: int | None = None) -> dict[str, Any]:
    """The candidate as the trial trains it (the job's epoch override, per-trial seed and the
    batch size fitted to ``train_rows`` applied: :func:`~automtl.search.trainable.
    trial_candidate`, which the trainable applies again to the same effect), so the study,
    ``/trials`` and the exported config show one batch size, the one trained. With the input
    schema known, its parameter count is stored and checked against ``params_max`` here
    (:class:`~automtl.search.feasibility.InfeasibleCandidate`: never trained)."""
    from automtl.search.feasibility import ATTR_STATIC_PARAMS, check_static_constraints
    from automtl.search.trainable import trial_candidate

    sampled = space.sample(trial)
    candidate = trial_candidate(sampled, spec, trial.number, train_rows)
    if inputs is not None:
        try:
            params = check_static_constraints(candidate, inputs, spec.model_tasks,
                                              spec.constraints, spec.sequence)
        except Exception as exc:
            costs = getattr(exc, "costs", None)
            if costs is not None:
                trial.set_user_attr(ATTR_STATIC_PARAMS, int(costs["params"]))
            raise
        trial.set_user_attr(ATTR_STATIC_PARAMS, params)
    return candidate.model_dump(mode="json")


@contextlib.contextmanager
def _quiet(logger_name: str, to: int = logging.ERROR) -> Iterator[None]:
    """Raise one logger's level to ``to`` (ERROR by default) for the duration of a block."""
    target = logging.getLogger(logger_name)
    level = target.level
    target.setLevel(max(to, target.getEffectiveLevel()))
    try:
        yield
    finally:
        target.setLevel(level)


#: a confirmation run announces an epoch's end (a stage line: the CLI prints it, the worker
#: stores it) only when this many seconds passed since the last line, so a run of minutes
#: (the demo's took up to 3.5) is never silent and one of seconds adds no lines
CONFIRM_EPOCH_LINE_S = 10.0

#: the level of Ray's own loggers (``ray``, ``ray.tune``, ...) in the process that runs a
#: search: its INFO lines ("Started a local Ray instance", Tune's "Wrote the latest version of
#: all result files ...") are no news to a user of ``automtl search`` or to the worker's log;
#: warnings and errors still show
RAY_LOG_LEVEL = logging.WARNING

#: attempts at starting a local Ray: its node start gives the raylet a fixed 30 s to register
#: with the GCS, which a loaded machine (a reniced worker beside training) can miss once
RAY_START_ATTEMPTS = 3

#: Ray system settings (``RAY_<name>``, read by its processes when they start) for a local Ray
#: that :func:`run_search` starts; a value already in the environment is kept.
#: ``prestart_worker_first_driver``: Ray starts one idle worker process per CPU for the first
#: driver, but Tune's trial actors carry their own ``runtime_env`` (Tune's ``_ActorClassCache``
#: sets ``env_vars``), so Ray never hands them such a worker: they imported Ray beside the
#: search's own start-up (1-2.5 s of CPU each on the demo's 2 cores) and were then stopped as
#: idle, unused (``benchmarks/search_overhead.py``).
LOCAL_RAY_ENV = {"RAY_prestart_worker_first_driver": "0"}


def _ensure_ray(ray: Any, address: str | None, num_cpus: int | None) -> bool:
    """Start a local Ray (or connect to ``address``); True when this call started it.

    A local Ray starts with :data:`LOCAL_RAY_ENV` in the environment.

    A local start that fails (``ray.init`` raising, e.g. "The current node timed out during
    startup" on a loaded machine) stops the Ray processes it left (its GCS server kept running
    for minutes otherwise) and is tried again, :data:`RAY_START_ATTEMPTS` times in all; the last
    error is raised.
    """
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        ray.init(address=address, log_to_driver=False, logging_level=RAY_LOG_LEVEL)
        return True
    from tenacity import Retrying, before_sleep_log, stop_after_attempt, wait_fixed

    for name, value in LOCAL_RAY_ENV.items():
        os.environ.setdefault(name, value)
    for attempt in Retrying(stop=stop_after_attempt(RAY_START_ATTEMPTS), wait=wait_fixed(1),
                            reraise=True, before_sleep=before_sleep_log(logger, logging.WARNING)):
        with attempt:
            before = _child_pids()
            try:
                # "local": a Ray of its own even when `ray start` runs a cluster on this machine
                # (with no address, ray.init() would join the latest such cluster instead)
                ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1,
                         include_dashboard=False, log_to_driver=False,
                         logging_level=RAY_LOG_LEVEL)
            except Exception:
                with contextlib.suppress(Exception):
                    ray.shutdown()
                _stop_processes(_child_pids() - before)
                raise
    return True


def _child_pids() -> set[int]:
    """This process's direct children (Linux ``/proc``; an empty set where there is none)."""
    pids: set[int] = set()
    me = os.getpid()
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{entry.name}/stat") as stat:
                    # the parent pid is the 2nd field after the parenthesised command name
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == me:
                        pids.add(int(entry.name))
    return pids


def _stop_processes(pids: set[int], grace_s: float = 3.0) -> None:
    """SIGTERM ``pids``, then SIGKILL whichever is still there after ``grace_s`` seconds."""
    import signal

    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    left = set(pids)
    while left and time.monotonic() < deadline:
        for pid in list(left):
            with contextlib.suppress(ChildProcessError, OSError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    left.discard(pid)
        time.sleep(0.05)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
