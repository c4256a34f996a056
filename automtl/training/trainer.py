"""The training loop: fit a multi-task model with a loss-weighting strategy, evaluate splits.

Data stays on the device: each epoch draws one permutation from a seeded ``torch.Generator``
and slices batches by index gathers (no DataLoader, no per-row Python). Early stopping watches
the validation objective of :func:`automtl.training.metrics.validation_objective` (mean over
tasks of the primary metric, higher is better) and restores the best epoch's weights; the best
weights are restored at the end even when early stopping is off (patience 0).

What ``fit`` spends beyond the model's forward and backward is kept to what training needs: one
validation pass per epoch (early stopping and the history need it). The restored epoch's
validation metrics are reused, not recomputed (the same weights give the same predictions), and
inference latency is measured only when asked (``fit(measure_latency=True)``; the search
measures it once per trial), since its warm-up and timed passes cost about a fifth of a
one-epoch fit. On the CPU, when the validation split is one eval batch, the validation passes
after the first epoch are themselves timed passes of the latency measurement (the same
eval-mode forward over the same rows; only the weights' values differ, which a dense forward's
time does not depend on), so only the passes still missing are run at the end.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from automtl.config import TaskSpec, TrainConfig
from automtl.data.base import SplitTensors
from automtl.models.base import MTLModel
from automtl.training.inference import (
    EVAL_BATCH_SIZE,
    autocast_context,
    measure_latency_ms,
    predict,
)
from automtl.training.losses import labelled_tasks, task_losses
from automtl.training.metrics import split_metrics, validation_objective
from automtl.training.result import (
    EpochRecord,
    StopTraining,
    TrainingDivergedError,
    TrainingInterrupted,
    TrainingState,
    TrainResult,
)
from automtl.weighting.base import Weighting, WeightingContext

EpochCallback = Callable[[int, EpochRecord], None]
#: ``forward_shared``'s signature: ``(numeric, categorical) -> (outputs, representation)``
SharedForward = Callable[..., tuple[dict[str, torch.Tensor], torch.Tensor | None]]


def build_optimizer(config: TrainConfig, model_parameters: Sequence[nn.Parameter],
                    extra_parameters: Sequence[nn.Parameter],
                    gate_parameters: Sequence[nn.Parameter] = (),
                    gate_lr: float | None = None) -> torch.optim.Optimizer:
    """adam/adamw/sgd (momentum 0.9) over the model (with weight decay) and the weighting's
    extra parameters (without: decaying uncertainty's log-variances toward 0 would bias them).

    ``gate_parameters`` (SNR's log_alpha, :meth:`MTLModel.gate_parameters`) form their own
    group at ``gate_lr`` (the model's lr when ``None``) without weight decay, and are left out
    of the model group."""
    gate_ids = {id(p) for p in gate_parameters}
    groups: list[dict] = [{"params": [p for p in model_parameters if id(p) not in gate_ids],
                           "weight_decay": config.weight_decay}]
    if gate_parameters:
        groups.append({"params": list(gate_parameters), "weight_decay": 0.0,
                       "lr": gate_lr if gate_lr is not None else config.lr})
    if extra_parameters:
        groups.append({"params": list(extra_parameters), "weight_decay": 0.0})
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=0.9)
    raise ValueError(f"optimizer: unknown {config.optimizer!r}; valid: ['adam', 'adamw', 'sgd']")


class Trainer:
    """``Trainer(model, weighting, train_config, device)``; :meth:`fit` then :meth:`evaluate`."""

    def __init__(self, model: MTLModel, weighting: Weighting, train_config: TrainConfig,
                 device: torch.device | str) -> None:
        self.model = model
        self.weighting = weighting
        self.config = train_config
        self.device = torch.device(device)
        self.tasks: list[TaskSpec] = list(getattr(getattr(model, "config", None), "tasks", []))
        self._compiled_forward: SharedForward | None = None
        self._snapshot: Callable[[], TrainingState] | None = None

    def training_state(self) -> TrainingState:
        """The state after the epoch whose callback is running (a copy: training on does not
        change it), for ``fit(resume=...)`` in this or another process. Raises
        ``RuntimeError`` outside an epoch callback."""
        if self._snapshot is None:
            raise RuntimeError("training_state() is only available inside an epoch callback")
        return self._snapshot()

    def _check_tasks(self, tasks: Sequence[TaskSpec], *splits: SplitTensors) -> None:
        names = [t.name for t in tasks]
        if sorted(names) != sorted(self.model.task_names):
            raise ValueError(f"tasks {names} differ from the model's tasks {self.model.task_names}")
        if sorted(names) != sorted(self.weighting.task_names):
            raise ValueError(f"tasks {names} differ from the weighting's tasks "
                             f"{self.weighting.task_names}")
        for split in splits:
            missing = [n for n in names if n not in split.task_names]
            if missing:
                raise ValueError(f"split has no label column for task(s) {missing}; "
                                 f"columns: {list(split.task_names)}")

    def fit(self, train: SplitTensors, valid: SplitTensors, tasks: Sequence[TaskSpec],
            callback: EpochCallback | None = None,
            test: SplitTensors | None = None,
            objectives: Sequence[str] | None = None,
            measure_latency: bool = False,
            interrupt: Callable[[], bool] | None = None,
            resume: TrainingState | None = None) -> TrainResult:
        """Train up to ``epochs`` epochs with early stopping; restore the best weights.

        ``resume``: a :class:`TrainingState` taken by :meth:`training_state` (after epoch
        ``resume.epoch``) of a trainer with the same model architecture, weighting and train
        config; training goes on from there as if it had not stopped (on the CPU the weights
        after the last epoch are bit-identical to an uninterrupted fit). The weighting is
        replaced by the state's copy (:attr:`weighting`).

        ``objectives`` names the tasks the search optimises (None: all); an undefined (NaN)
        validation metric of any other task does not count against an epoch.
        ``measure_latency``: also time inference on ``valid`` after training
        (:func:`~automtl.training.inference.measure_latency_ms`: the median of 5 timed eval
        passes of up to 8,192 rows after 2 warm-up ones) into ``TrainResult.latency_ms``;
        otherwise it is None. On the CPU with a validation split of at most 8,192 rows, the
        validation passes of the second and later epochs are timed passes already (the first
        one is the warm-up), and only the rest run after training.
        ``valid_metrics`` of the result are those of the restored epoch's validation pass.
        ``interrupt`` is called before every batch (keep it cheap: a flag read); once it
        returns True, :class:`~automtl.training.result.TrainingInterrupted` is raised (a
        cancelled search ends its running trials at their next batch, not their next epoch).
        """
        cfg = self.config
        self._check_tasks(tasks, train, valid, *([test] if test is not None else []))
        if len(train) == 0 or len(valid) == 0:
            raise ValueError("the train and valid splits must each have at least one row")
        self.tasks = list(tasks)
        torch.manual_seed(cfg.seed)  # dropout masks, hard-concrete samples
        self.weighting.manual_seed(cfg.seed)
        if resume is not None:
            self.weighting = copy.deepcopy(resume.weighting)
            self.model.load_state_dict(resume.model)
        self.model.to(self.device)
        self.weighting.to(self.device)
        train, valid = train.to(self.device), valid.to(self.device)
        optimizer = build_optimizer(cfg, [p for p in self.model.parameters() if p.requires_grad],
                                    self.weighting.extra_parameters(),
                                    self.model.gate_parameters(), self.model.gate_lr())
        generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        history: list[EpochRecord] = []
        best_objective, best_epoch, best_state = -math.inf, -1, None
        epochs_without_gain, stopped_early, stopped_by_callback = 0, False, False
        # validation passes that double as latency timings (see the module doc)
        time_passes = measure_latency and self.device.type == "cpu" \
            and len(valid) <= EVAL_BATCH_SIZE
        pass_seconds: list[float] = []
        first_epoch, prior_train_s = 0, 0.0
        if resume is not None:
            optimizer.load_state_dict(resume.optimizer)
            generator.set_state(resume.generator)
            torch.set_rng_state(resume.rng)
            history = copy.deepcopy(resume.history)
            best_objective, best_epoch = resume.best_objective, resume.best_epoch
            best_state = ({k: v.to(self.device) for k, v in resume.best_state.items()}
                          if resume.best_state is not None else None)
            epochs_without_gain = resume.epochs_without_gain
            pass_seconds = list(resume.pass_seconds)
            first_epoch, prior_train_s = resume.epoch, resume.train_time_s
        started = time.perf_counter()

        def snapshot() -> TrainingState:
            return TrainingState(
                epoch=len(history), model=_cloned(self.model.state_dict()),
                optimizer=copy.deepcopy(optimizer.state_dict()),
                weighting=copy.deepcopy(self.weighting), generator=generator.get_state(),
                rng=torch.get_rng_state(), history=copy.deepcopy(history),
                best_objective=best_objective, best_epoch=best_epoch,
                best_state=_cloned(best_state) if best_state is not None else None,
                epochs_without_gain=epochs_without_gain,
                train_time_s=prior_train_s + time.perf_counter() - started,
                pass_seconds=list(pass_seconds))

        self._snapshot = snapshot
        try:
            for epoch in range(first_epoch, cfg.epochs):
                epoch_started = time.perf_counter()
                train_losses, weights = self._train_epoch(train, optimizer, generator, epoch,
                                                          interrupt)
                pass_started = time.perf_counter()
                predictions = self.predict(valid)
                pass_seconds.append(time.perf_counter() - pass_started)
                valid_metrics = self._metrics(predictions, valid, self.tasks)
                objective = validation_objective(valid_metrics, self.tasks, objectives)
                self.weighting.on_epoch_end(epoch, train_losses, valid_metrics)
                record = EpochRecord(epoch, train_losses, weights, valid_metrics, objective,
                                     time.perf_counter() - epoch_started)
                history.append(record)
                if math.isfinite(objective) and objective > best_objective:
                    best_objective, best_epoch, epochs_without_gain = objective, epoch, 0
                    best_state = _cloned(self.model.state_dict())
                else:
                    epochs_without_gain += 1
                if callback is not None:
                    try:
                        callback(epoch, record)
                    except StopTraining:
                        stopped_by_callback = True
                        break
                patience = cfg.early_stopping_patience
                if patience and epochs_without_gain >= patience:
                    stopped_early = True
                    break
        finally:
            self._snapshot = None
        train_time = prior_train_s + time.perf_counter() - started
        if best_state is not None:
            self.model.load_state_dict(best_state)
        else:  # no epoch had a finite objective: keep the last weights
            best_epoch = len(history) - 1
        return TrainResult(
            # the restored weights are the ones that epoch validated: reuse its pass
            valid_metrics=copy.deepcopy(history[best_epoch].valid_metrics),
            test_metrics=self.evaluate(test) if test is not None else None,
            primary_metrics={t.name: str(t.metric) for t in self.tasks},
            num_parameters=self.model.num_parameters(),
            latency_ms=measure_latency_ms(self.model, valid, self.device, cfg.amp,
                                          timed=pass_seconds[1:] if time_passes else ())
            if measure_latency else None,
            train_time_s=train_time, epochs=len(history), best_epoch=best_epoch,
            stopped_early=stopped_early, stopped_by_callback=stopped_by_callback,
            history=history)

    def _train_epoch(self, train: SplitTensors, optimizer: torch.optim.Optimizer,
                     generator: torch.Generator, epoch: int,
                     interrupt: Callable[[], bool] | None = None,
                     ) -> tuple[dict[str, float], dict[str, float]]:
        """One pass over ``train``; returns the mean loss and mean weight per task. Raises
        :class:`TrainingInterrupted` before a batch when ``interrupt()`` is True."""
        cfg, model = self.config, self.model
        names = [t.name for t in self.tasks]
        shared = list(model.shared_parameters())
        shared_ids = {id(p) for p in shared}
        context_parts = {
            "shared_parameters": shared,
            "last_shared_parameters": list(model.last_shared_parameters()),
            "task_parameters": [p for p in model.parameters()
                                if p.requires_grad and id(p) not in shared_ids],
        }
        columns = [train.task_column(n) for n in names]
        loss_sums = torch.zeros(len(names), device=self.device)
        row_counts = torch.zeros(len(names), device=self.device)
        weight_sums = dict.fromkeys(names, 0.0)
        batches = 0
        steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
        warmup_steps = model.l0_warmup_epochs() * steps_per_epoch
        forward = self._training_forward()
        model.train()
        order = torch.randperm(len(train), generator=generator, device=self.device)
        for start in range(0, len(train), cfg.batch_size):
            if interrupt is not None and interrupt():
                raise TrainingInterrupted(f"interrupted in epoch {epoch + 1} before the batch "
                                          f"at row {start}")
            batch = train.index(order[start:start + cfg.batch_size])
            with autocast_context(self.device, cfg.amp):
                outputs, representation = forward(batch.numeric, batch.categorical)
            losses = task_losses(outputs, batch, self.tasks)
            optimizer.zero_grad(set_to_none=True)
            penalty = model.penalty(cfg)  # already weighted (SNR: by l0_lambda)
            if penalty is not None:  # the penalty ramps up over the model's warm-up
                step = epoch * steps_per_epoch + batches + 1
                ramp = min(1.0, step / warmup_steps) if warmup_steps > 0 else 1.0
                (ramp * penalty.float()).backward(retain_graph=True)
            regulariser = model.output_penalty(outputs)  # e.g. AITM's calibrator, weighted
            if regulariser is not None:
                regulariser.float().backward(retain_graph=True)
            counts = batch.mask[:, columns].sum(dim=0)
            present = counts.float()
            # without row weights the labelled rows are the present ones: one count, one sync
            labelled = labelled_tasks(batch, names) if batch.weights is not None \
                else dict(zip(names, counts.tolist(), strict=True))
            context = WeightingContext(epoch=epoch, shared_representation=representation,
                                       labelled=labelled, **context_parts)
            weights = self.weighting.backward(losses, context)
            if cfg.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            loss_sums += torch.stack([losses[n].detach() for n in names]) * present
            row_counts += present
            for name in names:
                weight_sums[name] += weights[name]
            batches += 1
        means = (loss_sums / row_counts.clamp_min(1)).tolist()
        bad = [n for n, v in zip(names, means, strict=True) if not math.isfinite(v)]
        if bad:
            raise TrainingDivergedError(f"epoch {epoch}: non-finite training loss for task(s) "
                                        f"{bad}; lower the learning rate or enable grad_clip")
        return dict(zip(names, means, strict=True)), \
            {n: w / max(batches, 1) for n, w in weight_sums.items()}

    def _training_forward(self) -> SharedForward:
        """``model.forward_shared``, compiled once per trainer when ``config.compile`` (the
        compiled graph is reused by every later epoch; the last, shorter batch of an epoch costs
        one recompile with a dynamic batch dimension)."""
        if not self.config.compile:
            return self.model.forward_shared
        if self._compiled_forward is None:
            self._compiled_forward = torch.compile(self.model.forward_shared)
        return self._compiled_forward

    def predict(self, split: SplitTensors) -> dict[str, torch.Tensor]:
        """Raw predictions ``{task: [N]}`` (logits for binary tasks; ``[N, C]`` logits for a
        multiclass task) on the device."""
        self.model.to(self.device)
        return predict(self.model, split.to(self.device), self.device, self.config.amp)

    def evaluate(self, split: SplitTensors,
                 tasks: Sequence[TaskSpec] | None = None) -> dict[str, dict[str, float]]:
        """``{task: {metric: value}}`` on any split (labelled rows only); regression metrics
        in the labels' original units (the model config's label scaling)."""
        tasks = list(tasks) if tasks is not None else self.tasks
        if not tasks:
            raise ValueError("no tasks: pass tasks= or call fit() first")
        return self._metrics(self.predict(split), split, tasks)

    def _metrics(self, predictions: dict[str, torch.Tensor], split: SplitTensors,
                 tasks: Sequence[TaskSpec]) -> dict[str, dict[str, float]]:
        inputs = getattr(getattr(self.model, "config", None), "inputs", None)
        return split_metrics(predictions, split, tasks, inputs)


def _cloned(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A copy of a ``state_dict`` whose tensors training on cannot change."""
    return {k: v.detach().clone() for k, v in state.items()}
