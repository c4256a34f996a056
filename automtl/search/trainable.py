"""The Ray Tune trainable: candidate config -> build -> train -> report, nothing else.

Every trial of a job shares one :class:`TrialContext` (the job spec, the input schema and the
split tensors), which the runner ships once through Ray's object store with
``tune.with_parameters``; a reused actor gets it from the store, never by reloading the data.

What reaches Tune (flat keys, also what the searcher reads):

- each epoch: ``epoch``, ``epochs_total``, ``train_time_s`` (seconds of training so far),
  ``valid/<task>/<metric>``, ``objective/<name>`` (latency is NaN until it is measured at the
  end), ``automtl/final: False``; a scheduler (MO-ASHA) may stop the trial after any of them;
- with ``domains``: ``<task>`` is each per-domain task ``<base>__<value>`` and each base task,
  whose metrics are the mean over its domains (:func:`automtl.domains.add_domain_means`);
- at the end: the same plus ``test/<task>/<metric>``, ``cost/params``, ``cost/latency_ms``,
  ``cost/effective_params`` (parameters a prediction still depends on after SNR pruning),
  ``sparsity`` (SNR only: share of closed connections), ``train_time_s`` (the training
  loop), ``trial_time_s`` (all of this function: build, train, evaluate, measure, save),
  ``epochs_trained``, ``artifact``, ``gate_utilisation/<task>`` (mean gate weight per expert
  on the valid split, gated topologies only) and ``automtl/final: True``;
- on failure (an exception, out of memory, a non-finite objective): ``automtl/final: True`` and
  ``automtl/error`` (type, message and traceback), objectives NaN. The trial then ends
  normally, so the actor survives for the next trial and the searcher tells Optuna FAIL.

Weights go to ``<artifact_root>/trial-<number>/model.pt`` (a ``state_dict``) next to
``candidate.json`` and ``model_config.json`` (rebuild with ``build_model(ModelConfig(...))``).
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from automtl.config import Candidate, InputSchema, ModelConfig, VocabularySetting
from automtl.data.base import SplitTensors
from automtl.data.vocabulary import narrow_schema, narrow_split
from automtl.domains import add_domain_means
from automtl.jobspec import JobSpec
from automtl.search.stop_signal import StopSignal
from automtl.search.testing import FailureInjection
from automtl.training.result import EpochRecord, TrainingInterrupted, TrainingState

#: the config key under which the searcher's suggestion reaches the trainable
CONFIG_KEY = "automtl"
KEY_FINAL = "automtl/final"
KEY_ERROR = "automtl/error"
KEY_VALID = "valid"
KEY_TEST = "test"
KEY_PARAMS = "cost/params"
KEY_LATENCY = "cost/latency_ms"
KEY_EFFECTIVE_PARAMS = "cost/effective_params"
KEY_SPARSITY = "sparsity"
KEY_TRAIN_TIME = "train_time_s"
KEY_TRIAL_TIME = "trial_time_s"
KEY_EPOCHS = "epochs_trained"
KEY_ARTIFACT = "artifact"
#: the Ray node the trial ran on (``ray.get_runtime_context().get_node_id()``)
KEY_NODE = "ray_node_id"
KEY_UTILISATION = "gate_utilisation"
KEY_EPOCHS_TOTAL = "epochs_total"
#: the per-epoch records (``epoch``, ``train_time_s``, ``valid/<task>/<metric>``) since the
#: trial's previous report: every epoch is recorded, but only some are reported on their own
#: (:func:`report_epochs`)
KEY_EPOCH_LOG = "automtl/epochs"
COST_KEYS = {"params": KEY_PARAMS, "latency_ms": KEY_LATENCY,
             "effective_params": KEY_EFFECTIVE_PARAMS}

#: ``report(result)``; with ``run_trial(checkpoint=True)`` also ``checkpoint=`` a TrainingState
Report = Callable[..., None]


@dataclass(frozen=True)
class TrialContext:
    """What every trial of one job shares (picklable; shipped once via the object store)."""

    spec: JobSpec
    inputs: InputSchema
    train: SplitTensors
    valid: SplitTensors
    test: SplitTensors | None
    #: where trial folders go: a local directory, or an fsspec URL (:mod:`automtl.artifact_store`)
    artifact_root: str
    #: test-only failure injection (:mod:`automtl.search.testing`); never part of a job spec
    failure_injection: FailureInjection | None = None
    #: raised by the driver when the search stops: the trial ends at its next batch
    stop_signal: StopSignal | None = None
    #: (max_size, min_frequency) -> narrowed inputs and splits, built once per cap value
    _narrowed: dict[tuple[int | None, int | None], TrialData] = field(
        default_factory=dict, compare=False, repr=False)

    def for_vocabulary(self, setting: VocabularySetting) -> TrialData:
        """The input schema and splits with the trial's vocabulary cap applied
        (:mod:`automtl.data.vocabulary`): the job's own for the default setting; each other
        cap value is narrowed once and kept for the next trial with the same value."""
        key = (setting.max_size, setting.min_frequency)
        if setting.is_default:
            return TrialData(self.inputs, self.train, self.valid, self.test)
        if key not in self._narrowed:
            inputs, lookups = narrow_schema(self.inputs, setting)
            self._narrowed[key] = TrialData(
                inputs, narrow_split(self.train, lookups), narrow_split(self.valid, lookups),
                None if self.test is None else narrow_split(self.test, lookups))
        return self._narrowed[key]


@dataclass(frozen=True)
class TrialData:
    """The inputs and splits one trial trains on (its vocabulary cap applied)."""

    inputs: InputSchema
    train: SplitTensors
    valid: SplitTensors
    test: SplitTensors | None


def flatten_metrics(prefix: str, metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    """``{"t1": {"auc": 0.7}}`` -> ``{"<prefix>/t1/auc": 0.7}``."""
    return {f"{prefix}/{task}/{name}": float(value)
            for task, values in metrics.items() for name, value in values.items()}


def unflatten_metrics(result: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """The ``valid/...`` and ``test/...`` keys of a flat result as ``{split: {task: {metric}}}``."""
    out: dict[str, dict[str, dict[str, float]]] = {KEY_VALID: {}, KEY_TEST: {}}
    for key, value in result.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] in out:
            out[parts[0]].setdefault(parts[1], {})[parts[2]] = float(value)
    return out


def objective_values(spec: JobSpec, valid: dict[str, dict[str, float]],
                     costs: dict[str, float]) -> dict[str, float]:
    """``objective/<name>`` -> value: the task's validation metric or the cost."""
    out = {}
    for objective in spec.objective_list():
        if objective.metric is not None:
            value = valid.get(objective.name, {}).get(objective.metric, math.nan)
        else:
            value = costs.get(objective.name, math.nan)
        out[objective.result_key] = float(value)
    return out


def failure_result(spec: JobSpec, exc: BaseException) -> dict[str, Any]:
    """The final report of a trial that failed with ``exc``."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    result: dict[str, Any] = {KEY_FINAL: True,
                              KEY_ERROR: f"{type(exc).__name__}: {exc}\n{text[-4000:]}"}
    result.update({o.result_key: math.nan for o in spec.objective_list()})
    return result


#: a trial takes at least this many optimiser steps per epoch (see :func:`fit_batch_size`)
MIN_STEPS_PER_EPOCH = 20
#: ... but never batches smaller than this
MIN_BATCH_SIZE = 32


def fit_batch_size(batch_size: int, train_rows: int | None) -> int:
    """The sampled batch size, lowered so an epoch has at least :data:`MIN_STEPS_PER_EPOCH`
    steps (never below :data:`MIN_BATCH_SIZE`): the presets' 512-2048 would leave a few
    thousand train rows with 2-6 updates per epoch and every candidate under-trained."""
    if train_rows is None:
        return batch_size
    return max(1, min(batch_size, max(MIN_BATCH_SIZE, train_rows // MIN_STEPS_PER_EPOCH)))


def trial_candidate(candidate: dict[str, Any], spec: JobSpec, number: int,
                    train_rows: int | None = None) -> Candidate:
    """The sampled candidate with the job's epoch override, a per-trial seed and the batch
    size fitted to ``train_rows`` (:func:`fit_batch_size`) applied."""
    parsed = Candidate.model_validate(candidate)
    if spec.budget.epochs is not None:
        parsed.train.epochs = spec.budget.epochs
    parsed.train.seed = spec.seed + number
    parsed.train.batch_size = fit_batch_size(parsed.train.batch_size, train_rows)
    return parsed


def trial_device(spec: JobSpec) -> torch.device:
    """CUDA when the job gives trials GPUs (Ray sets the visible devices), else the CPU."""
    if spec.resources.gpus_per_trial > 0:
        if not torch.cuda.is_available():
            raise RuntimeError("resources.gpus_per_trial > 0 but this worker sees no CUDA device")
        return torch.device("cuda")
    return torch.device("cpu")


def report_epochs(spec: JobSpec, epochs: int) -> frozenset[int]:
    """The epochs (1-based) after which a trial reports before its final result: MO-ASHA's
    rungs when the job uses it (the scheduler decides there), none otherwise.

    A Ray Tune function trainable reports synchronously: the trial waits at every report until
    the driver has handled it, which on a busy driver costs tenths of a second each. So the
    other epochs are not reported on their own; their records ride along in the next report
    (or the final result) under :data:`KEY_EPOCH_LOG`, which the searcher stores as the
    learning curve and the callbacks replay as ``on_epoch``.
    """
    if spec.scheduler.name != "mo_asha":
        return frozenset()
    from automtl.search.mo_asha import rung_epochs

    return frozenset(rung_epochs(spec.scheduler.grace_epochs, spec.scheduler.reduction_factor,
                                 epochs))


def run_trial(candidate: dict[str, Any], number: int, context: TrialContext,
              report: Report, *, resume: TrainingState | None = None,
              checkpoint: bool = False) -> dict[str, Any]:
    """Train one candidate, ``report`` at the epochs :func:`report_epochs` names (each report
    and the final result carry the epochs since the last one under :data:`KEY_EPOCH_LOG`),
    save the weights; the final result.

    ``checkpoint``: each report also passes the trainer's state after that epoch as
    ``report(result, checkpoint=state)`` (a :class:`~automtl.training.TrainingState`: what a
    trial paused at a rung needs, MO-ASHA's ``promotion="pause"``); ``resume``: such a state,
    from which this call goes on (the epochs before it are not trained again; ``train_time_s``
    counts them, ``epoch`` numbers go on from them)."""
    from automtl.models.registry import build_model
    from automtl.report.utilisation import expert_utilisation
    from automtl.training.trainer import Trainer
    from automtl.weighting import build_weighting

    started = time.perf_counter()
    spec = context.spec
    torch.set_num_threads(max(1, int(spec.resources.cpus_per_trial)))
    parsed = trial_candidate(candidate, spec, number, len(context.train))
    injection = context.failure_injection
    if injection is not None:
        injection.check(parsed, 0)
    data = context.for_vocabulary(parsed.vocabulary)
    tasks = spec.model_tasks  # with domains: one task per (task, domain value)
    model_config = ModelConfig.from_parts(parsed.architecture, data.inputs, tasks,
                                          spec.sequence)
    torch.manual_seed(parsed.train.seed)
    model = build_model(model_config)
    num_params = model.num_parameters()  # before training: the reported cost
    weighting = build_weighting(parsed.weighting, tasks, seed=parsed.train.seed)
    trainer = Trainer(model, weighting, parsed.train, trial_device(spec))

    trained_s = resume.train_time_s if resume is not None else 0.0
    reporting = report_epochs(spec, parsed.train.epochs)
    log: list[dict[str, Any]] = []

    def on_epoch(epoch: int, record: EpochRecord) -> None:
        nonlocal trained_s
        if injection is not None:
            injection.check(parsed, epoch + 1)
        trained_s += record.seconds
        epoch_valid = add_domain_means(record.valid_metrics, spec.tasks, spec.domains)
        entry = {"epoch": epoch + 1, KEY_TRAIN_TIME: trained_s,
                 **flatten_metrics(KEY_VALID, epoch_valid)}
        log.append(entry)
        if epoch + 1 not in reporting:
            return
        costs = {"params": float(num_params), "latency_ms": math.nan,
                 "effective_params": float(model.effective_parameters())}
        metrics = {**entry, KEY_FINAL: False, KEY_EPOCHS_TOTAL: parsed.train.epochs,
                   **objective_values(spec, epoch_valid, costs), KEY_EPOCH_LOG: list(log)}
        if checkpoint:
            report(metrics, checkpoint=trainer.training_state())
        else:
            report(metrics)
        log.clear()

    stop = context.stop_signal
    result = trainer.fit(data.train, data.valid, tasks, callback=on_epoch,
                         test=data.test, objectives=spec.objective_model_tasks(),
                         measure_latency=True,  # once per trial (confirmation runs skip it)
                         interrupt=stop.is_raised if stop is not None else None,
                         resume=resume)
    latency_ms = math.nan if result.latency_ms is None else float(result.latency_ms)
    valid = add_domain_means(result.valid_metrics, spec.tasks, spec.domains)
    test_metrics = (add_domain_means(result.test_metrics, spec.tasks, spec.domains)
                    if result.test_metrics is not None else {})
    if injection is not None and injection.mode == "nan" and injection.applies_to(parsed):
        valid = {task: {m: math.nan for m in values} for task, values in valid.items()}
    effective_params = model.effective_parameters()  # of the restored (best) weights
    sparsity = model.sparsity()
    costs = {"params": float(num_params), "latency_ms": latency_ms,
             "effective_params": float(effective_params)}
    objectives = objective_values(spec, valid, costs)
    bad = [k for k, v in objectives.items() if not math.isfinite(v)]
    if bad:
        raise FloatingPointError(f"non-finite objective(s) {bad}: training diverged")
    utilisation = expert_utilisation(model, data.valid)
    artifact = store_artifacts(context.artifact_root, f"trial-{number}", model, parsed,
                               model_config)
    return {KEY_FINAL: True, **flatten_metrics(KEY_VALID, valid),
            **flatten_metrics(KEY_TEST, test_metrics), **objectives,
            KEY_PARAMS: num_params, KEY_LATENCY: latency_ms,
            KEY_EFFECTIVE_PARAMS: effective_params,
            **({KEY_SPARSITY: sparsity} if sparsity is not None else {}),
            KEY_TRAIN_TIME: float(result.train_time_s),
            KEY_TRIAL_TIME: time.perf_counter() - started,
            KEY_EPOCHS: int(result.epochs), KEY_ARTIFACT: str(artifact), KEY_EPOCH_LOG: log,
            **{f"{KEY_UTILISATION}/{task}": weights for task, weights in utilisation.items()}}


def train_for_confirmation(candidate: dict[str, Any], seed: int, context: TrialContext,
                           should_stop: Callable[[], bool] | None = None,
                           on_epoch: Callable[[int, int], None] | None = None,
                           ) -> dict[str, dict[str, float]]:
    """Train a stored candidate again with ``seed`` (its epochs unchanged) on the train split;
    its test-split metrics ``{task: {metric: value}}``. Raises ``ValueError`` when the job
    has no test split (confirmation scores on test, never on the validation split), and
    :class:`~automtl.search.confirm.ConfirmationCancelled` at the first batch before which
    ``should_stop()`` returns True (a cancelled job stops within one batch; it is called
    before every batch, so keep it cheap). ``on_epoch(epoch, epochs)`` is called after each
    epoch (1-based ``epoch`` of ``epochs``), so a caller can show progress inside a run."""
    from automtl.models.registry import build_model
    from automtl.search.confirm import ConfirmationCancelled
    from automtl.training.trainer import Trainer
    from automtl.weighting import build_weighting

    if context.test is None or len(context.test) == 0:
        raise ValueError("confirmation needs a test split (dataset.split.test > 0)")
    spec = context.spec
    # the candidate as its trial trained it (epochs, batch size fitted to the train rows),
    # with the confirmation's seed
    parsed = trial_candidate(candidate, spec, 0, len(context.train))
    parsed.train.seed = seed
    data = context.for_vocabulary(parsed.vocabulary)
    tasks = spec.model_tasks
    model_config = ModelConfig.from_parts(parsed.architecture, data.inputs, tasks,
                                          spec.sequence)
    torch.manual_seed(seed)
    model = build_model(model_config)
    weighting = build_weighting(parsed.weighting, tasks, seed=seed)
    trainer = Trainer(model, weighting, parsed.train, trial_device(spec))

    def check(epoch: int, record: EpochRecord) -> None:
        if on_epoch is not None:
            on_epoch(epoch + 1, int(parsed.train.epochs))

    try:
        result = trainer.fit(data.train, data.valid, tasks, check, test=data.test,
                             objectives=spec.objective_model_tasks(), interrupt=should_stop)
    except TrainingInterrupted as exc:
        raise ConfirmationCancelled(f"cancelled: {exc}") from exc
    return add_domain_means(result.test_metrics or {}, spec.tasks, spec.domains)


def save_artifacts(directory: Path, model: torch.nn.Module, candidate: Candidate,
                   model_config: ModelConfig) -> Path:
    """Write ``model.pt`` (state_dict on CPU), ``candidate.json`` and ``model_config.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, directory / "model.pt")
    (directory / "candidate.json").write_text(json.dumps(candidate.model_dump(mode="json"),
                                                         indent=2))
    (directory / "model_config.json").write_text(
        json.dumps(model_config.model_dump(mode="json"), indent=2))
    return directory


def store_artifacts(root: str, name: str, model: torch.nn.Module, candidate: Candidate,
                    model_config: ModelConfig) -> str:
    """Save a trial's artifacts as ``<root>/<name>``: a local folder, or, when ``root`` is an
    fsspec URL (:mod:`automtl.artifact_store`), a scratch folder uploaded there and removed.
    Returns where they are (a path or a URL)."""
    from automtl import artifact_store

    if not artifact_store.is_url(root):
        return str(save_artifacts(Path(root) / name, model, candidate, model_config))
    import tempfile

    with tempfile.TemporaryDirectory(prefix="automtl-trial-") as scratch:
        directory = save_artifacts(Path(scratch), model, candidate, model_config)
        return artifact_store.publish(directory, artifact_store.join(root, name))


def train_candidate(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune function trainable: run one trial, turning any failure into a final result.

    A trial the stopping search interrupted (its :class:`TrialContext.stop_signal`) returns
    without a result: Tune has already ended it, and the runner tells the study it was
    interrupted."""
    from ray import tune

    from automtl.search.orphans import exit_when_orphaned

    exit_when_orphaned()  # a killed driver must not leave this trial training for minutes
    info = config[CONFIG_KEY]
    try:
        final = run_trial(info["candidate"], int(info["number"]), context, tune.report)
    except TrainingInterrupted:
        return
    except Exception as exc:  # noqa: BLE001 - recorded as the trial's failure, search goes on
        final = failure_result(context.spec, exc)
    tune.report({**final, KEY_NODE: _ray_node_id()})


def _ray_node_id() -> str | None:
    """The id of the Ray node this trial runs on (None outside a Ray worker)."""
    import ray

    if not ray.is_initialized():
        return None
    return str(ray.get_runtime_context().get_node_id())
