"""The Ray Tune trainable: candidate config -> build -> train -> report, nothing else.

Every trial of a job shares one :class:`TrialContext` (the job spec, the input schema and the
split tensors), which the runner ships once through Ray's object store with
``tune.with_parameters``; a reused actor gets it from the store, never by reloading the data.

What reaches Tune (flat keys, also what the searcher reads):

- each epoch: ``epoch``, ``epochs_total``, ``train_time_s`` (seconds of training so far),
  ``valid/<task>/<metric>``, ``objective/<name>`` (latency is NaN until it is measured at the
  end), ``automtl/final: False``; a scheduler (MO-ASHA) may stop the trial after any of them;
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from automtl.config import Candidate, InputSchema, ModelConfig
from automtl.data.base import SplitTensors
from automtl.jobspec import JobSpec
from automtl.search.testing import FailureInjection
from automtl.training.result import EpochRecord

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

Report = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrialContext:
    """What every trial of one job shares (picklable; shipped once via the object store)."""

    spec: JobSpec
    inputs: InputSchema
    train: SplitTensors
    valid: SplitTensors
    test: SplitTensors | None
    artifact_root: str
    #: test-only failure injection (:mod:`automtl.search.testing`); never part of a job spec
    failure_injection: FailureInjection | None = None


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
              report: Report) -> dict[str, Any]:
    """Train one candidate, ``report`` at the epochs :func:`report_epochs` names (each report
    and the final result carry the epochs since the last one under :data:`KEY_EPOCH_LOG`),
    save the weights; the final result."""
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
    model_config = ModelConfig.from_parts(parsed.architecture, context.inputs, spec.tasks)
    torch.manual_seed(parsed.train.seed)
    model = build_model(model_config)
    num_params = model.num_parameters()  # before training: the reported cost
    weighting = build_weighting(parsed.weighting, spec.tasks, seed=parsed.train.seed)
    trainer = Trainer(model, weighting, parsed.train, trial_device(spec))

    trained_s = 0.0
    reporting = report_epochs(spec, parsed.train.epochs)
    log: list[dict[str, Any]] = []

    def on_epoch(epoch: int, record: EpochRecord) -> None:
        nonlocal trained_s
        if injection is not None:
            injection.check(parsed, epoch + 1)
        trained_s += record.seconds
        entry = {"epoch": epoch + 1, KEY_TRAIN_TIME: trained_s,
                 **flatten_metrics(KEY_VALID, record.valid_metrics)}
        log.append(entry)
        if epoch + 1 not in reporting:
            return
        costs = {"params": float(num_params), "latency_ms": math.nan,
                 "effective_params": float(model.effective_parameters())}
        report({**entry, KEY_FINAL: False, KEY_EPOCHS_TOTAL: parsed.train.epochs,
                **objective_values(spec, record.valid_metrics, costs),
                KEY_EPOCH_LOG: list(log)})
        log.clear()

    task_names = {t.name for t in spec.tasks}
    result = trainer.fit(context.train, context.valid, spec.tasks, callback=on_epoch,
                         test=context.test,
                         objectives=[o for o in spec.objectives if o in task_names])
    valid = result.valid_metrics
    if injection is not None and injection.mode == "nan" and injection.applies_to(parsed):
        valid = {task: {m: math.nan for m in values} for task, values in valid.items()}
    effective_params = model.effective_parameters()  # of the restored (best) weights
    sparsity = model.sparsity()
    costs = {"params": float(num_params), "latency_ms": float(result.latency_ms),
             "effective_params": float(effective_params)}
    objectives = objective_values(spec, valid, costs)
    bad = [k for k, v in objectives.items() if not math.isfinite(v)]
    if bad:
        raise FloatingPointError(f"non-finite objective(s) {bad}: training diverged")
    utilisation = expert_utilisation(model, context.valid)
    artifact = save_artifacts(Path(context.artifact_root) / f"trial-{number}", model, parsed,
                              model_config)
    return {KEY_FINAL: True, **flatten_metrics(KEY_VALID, valid),
            **flatten_metrics(KEY_TEST, result.test_metrics or {}), **objectives,
            KEY_PARAMS: num_params, KEY_LATENCY: float(result.latency_ms),
            KEY_EFFECTIVE_PARAMS: effective_params,
            **({KEY_SPARSITY: sparsity} if sparsity is not None else {}),
            KEY_TRAIN_TIME: float(result.train_time_s),
            KEY_TRIAL_TIME: time.perf_counter() - started,
            KEY_EPOCHS: int(result.epochs), KEY_ARTIFACT: str(artifact), KEY_EPOCH_LOG: log,
            **{f"{KEY_UTILISATION}/{task}": weights for task, weights in utilisation.items()}}


def train_for_confirmation(candidate: dict[str, Any], seed: int, context: TrialContext,
                           should_stop: Callable[[], bool] | None = None,
                           ) -> dict[str, dict[str, float]]:
    """Train a stored candidate again with ``seed`` (its epochs unchanged) on the train split;
    its test-split metrics ``{task: {metric: value}}``. Raises ``ValueError`` when the job
    has no test split (confirmation scores on test, never on the validation split), and
    :class:`~automtl.search.confirm.ConfirmationCancelled` after the first epoch at whose end
    ``should_stop()`` returns True (a cancelled job stops within one epoch)."""
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
    model_config = ModelConfig.from_parts(parsed.architecture, context.inputs, spec.tasks)
    torch.manual_seed(seed)
    model = build_model(model_config)
    weighting = build_weighting(parsed.weighting, spec.tasks, seed=seed)
    trainer = Trainer(model, weighting, parsed.train, trial_device(spec))

    def check(epoch: int, record: EpochRecord) -> None:
        if should_stop is not None and should_stop():
            raise ConfirmationCancelled(f"cancelled after epoch {epoch + 1}")

    task_names = {t.name for t in spec.tasks}
    result = trainer.fit(context.train, context.valid, spec.tasks, check, test=context.test,
                         objectives=[o for o in spec.objectives if o in task_names])
    return result.test_metrics or {}


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


def train_candidate(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune function trainable: run one trial, turning any failure into a final result."""
    from ray import tune

    info = config[CONFIG_KEY]
    try:
        final = run_trial(info["candidate"], int(info["number"]), context, tune.report)
    except Exception as exc:  # noqa: BLE001 - recorded as the trial's failure, search goes on
        final = failure_result(context.spec, exc)
    tune.report({**final, KEY_NODE: _ray_node_id()})


def _ray_node_id() -> str | None:
    """The id of the Ray node this trial runs on (None outside a Ray worker)."""
    import ray

    if not ray.is_initialized():
        return None
    return str(ray.get_runtime_context().get_node_id())
