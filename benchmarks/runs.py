"""One timed training run of MMoE or PLE, in automtl or in a peer library, with the same sizes.

:class:`ModelSizes` fixes the architecture every tool builds; :class:`RunResult` is what a run
reports: the seconds of each training epoch only (data preparation and validation excluded,
as for the peers in :mod:`benchmarks.peers`), the validation AUC of the
model after the last epoch, and the parameter count (so equal sizes can be checked).
:func:`fit_automtl` times ``Trainer.fit`` as one call instead (what a user sees), and
:func:`minimal_loop` is the bare loop over the same model and data that the trainer's speed is
measured against (``benchmarks.trainer_overhead``, ``benchmarks.peer_throughput``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import torch
import torch.nn.functional as F

from automtl.config import (
    ArchitectureConfig,
    ModelConfig,
    TopologyParams,
    TrainConfig,
    WeightingConfig,
)
from automtl.data import TabularDataset
from automtl.data.base import SplitTensors
from automtl.models import build_model
from automtl.models.base import MTLModel
from automtl.models.params import MMoEParams, PLEParams
from automtl.training import Trainer
from automtl.weighting import build_weighting
from benchmarks.common import TASKS, synchronize


@dataclass(frozen=True)
class ModelSizes:
    """MMoE: ``mmoe_experts`` experts; PLE: ``ple_levels`` levels of ``ple_shared`` shared and
    ``ple_task`` per-task experts. Experts are one hidden layer of ``expert_units``, towers one of
    ``tower_units``, gates linear, categorical embeddings ``embedding_dim`` wide."""

    mmoe_experts: int = 8
    expert_units: int = 64
    tower_units: int = 32
    ple_levels: int = 2
    ple_shared: int = 2
    ple_task: int = 2
    embedding_dim: int = 8

    def architecture(self, topology: str) -> ArchitectureConfig:
        """automtl's config for ``"mmoe"`` or ``"ple"`` at these sizes: the common fields plus
        the topology's own typed settings (:class:`MMoEParams`, :class:`PLEParams`)."""
        experts = {"expert_units": [self.expert_units], "gate_kind": "linear"}
        params: TopologyParams
        if topology == "mmoe":
            params = MMoEParams(num_shared_experts=self.mmoe_experts, **experts)
        elif topology == "ple":
            params = PLEParams(levels=self.ple_levels, num_shared_experts=self.ple_shared,
                               num_task_experts=self.ple_task, **experts)
        else:
            raise ValueError(f"topology: unknown {topology!r}; valid: ['mmoe', 'ple']")
        return ArchitectureConfig(topology=topology, tower_units=[self.tower_units],
                                  embedding_dim=self.embedding_dim, params=params)


@dataclass
class RunResult:
    """One tool's training run of one model."""

    tool: str
    topology: str
    batch_size: int
    epochs: int
    train_rows: int
    epoch_seconds: list[float]
    valid_auc: dict[str, float]
    parameters: int
    notes: list[str] = field(default_factory=list)
    #: seconds of the whole training call, when the run is timed as one call (``fit_automtl``,
    #: ``minimal_loop``); None: per-epoch timing only
    call_seconds: float | None = None
    #: CPU seconds of this process over the same span (None when not measured)
    cpu_seconds: float | None = None
    #: CPU seconds of this process in each training epoch, when the epochs are timed
    #: (the peers'); empty: not measured
    epoch_cpu_seconds: list[float] = field(default_factory=list)

    @property
    def train_seconds(self) -> float:
        return sum(self.epoch_seconds)

    @property
    def rows_per_second(self) -> float:
        """Rows/s of the whole call when it was timed as one (``call_seconds``), else of the
        fastest epoch: other processes on shared cores only ever slow an epoch, so the fastest
        is the best estimate of what the tool itself can do."""
        if self.call_seconds is not None:
            return self.train_rows * self.epochs / self.call_seconds
        return self.train_rows / min(self.epoch_seconds)

    @property
    def cpu_rows_per_second(self) -> float:
        """Rows per CPU second of the whole call, or else of the epoch with the fewest CPU
        seconds (NaN when neither was measured): less sensitive to other processes than
        wall time, since waiting for a core is not counted (with one torch thread, the
        rows/s the process reaches while it has a core)."""
        if self.cpu_seconds is not None:
            return self.train_rows * self.epochs / self.cpu_seconds
        if self.epoch_cpu_seconds:
            return self.train_rows / min(self.epoch_cpu_seconds)
        return float("nan")

    @property
    def mean_rows_per_second(self) -> float:
        """Rows/s over all epochs (first-epoch warm-up included)."""
        return self.train_rows * len(self.epoch_seconds) / self.train_seconds

    @property
    def mean_auc(self) -> float:
        return sum(self.valid_auc.values()) / len(self.valid_auc)


class EpochTimedTrainer(Trainer):
    """automtl's :class:`~automtl.training.Trainer`, recording the seconds of each training
    pass without the per-epoch validation, so it is timed exactly like the peers' epochs."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.train_epoch_seconds: list[float] = []

    def _train_epoch(self, train: SplitTensors, optimizer: torch.optim.Optimizer,
                     generator: torch.Generator, epoch: int,
                     interrupt: Callable[[], bool] | None = None,
                     ) -> tuple[dict[str, float], dict[str, float]]:
        import time

        synchronize(self.device)
        started = time.perf_counter()
        result = super()._train_epoch(train, optimizer, generator, epoch, interrupt)
        synchronize(self.device)
        self.train_epoch_seconds.append(time.perf_counter() - started)
        return result


def automtl_model(data: TabularDataset, topology: str, sizes: ModelSizes) -> torch.nn.Module:
    """The automtl network for ``topology`` at ``sizes`` on ``data``'s inputs."""
    return build_model(ModelConfig.from_parts(sizes.architecture(topology), data.schema, TASKS))


def train_automtl(data: TabularDataset, topology: str, sizes: ModelSizes, batch_size: int,
                  epochs: int, lr: float, device: torch.device, seed: int,
                  amp: bool = False, compile: bool = False,
                  measure_latency: bool = False) -> RunResult:
    """Adam, equal loss weights, every epoch run (early stopping off); AUC after the last
    epoch (not the restored best epoch, since the peers keep their last weights). ``amp``:
    bf16 autocast (CUDA only); ``compile``: ``TrainConfig.compile``; ``measure_latency``: as a
    search trial does (``Trainer.fit(measure_latency=True)``)."""
    torch.manual_seed(seed)
    model = automtl_model(data, topology, sizes)
    weighting = build_weighting(WeightingConfig(name="equal"), TASKS)
    config = TrainConfig(optimizer="adam", lr=lr, batch_size=batch_size, epochs=epochs,
                         early_stopping_patience=0, seed=seed, amp=amp, compile=compile)
    trainer = EpochTimedTrainer(model, weighting, config, device)
    result = trainer.fit(data.train, data.valid, TASKS, measure_latency=measure_latency)
    last = result.history[-1].valid_metrics
    return RunResult("automtl", topology, batch_size, epochs, len(data.train),
                     trainer.train_epoch_seconds, {t: last[t]["auc"] for t in last},
                     model.num_parameters())


def fit_automtl(data: TabularDataset, topology: str, sizes: ModelSizes, batch_size: int,
                epochs: int, lr: float, device: torch.device, seed: int,
                weighting: str = "equal") -> RunResult:
    """``Trainer.fit`` timed as a user calls it: the whole call (each epoch's training and
    validation pass, the weight restore) with Adam, no weight decay, every epoch run (early
    stopping off). ``epoch_seconds`` are the history's (training + validation); AUC after the
    last epoch (its validation pass, as the peers keep their last weights)."""
    torch.manual_seed(seed)
    model = automtl_model(data, topology, sizes)
    strategy = build_weighting(WeightingConfig(name=weighting), TASKS, seed=seed)
    config = TrainConfig(optimizer="adam", lr=lr, batch_size=batch_size, epochs=epochs,
                         early_stopping_patience=0, seed=seed)
    trainer = Trainer(model, strategy, config, device)
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    result = trainer.fit(data.train, data.valid, TASKS)
    synchronize(device)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    last = result.history[-1].valid_metrics
    return RunResult("automtl", topology, batch_size, epochs, len(data.train),
                     [r.seconds for r in result.history], {t: last[t]["auc"] for t in last},
                     model.num_parameters(), call_seconds=wall, cpu_seconds=cpu)


def loop_loss(outputs: dict[str, torch.Tensor], labels: torch.Tensor, mask: torch.Tensor,
              names: list[str]) -> torch.Tensor:
    """The minimal loop's loss in one pass over all tasks: per-row BCE-with-logits times the
    label mask, each task's mean over its labelled rows, summed over tasks (what the trainer's
    per-task masked losses with equal weighting add up to). ``labels``/``mask`` [B, tasks] in
    ``names`` order; binary tasks without row weights only."""
    logits = torch.stack([outputs[n].float().reshape(-1) for n in names], dim=1)
    present = mask.float()
    per_row = F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none")
    return ((per_row * present).sum(dim=0) / present.sum(dim=0).clamp_min(1)).sum()


def minimal_loop(data: TabularDataset, topology: str, sizes: ModelSizes, batch_size: int,
                 epochs: int, lr: float, device: torch.device, seed: int) -> RunResult:
    """The baseline a trainer is held to: the same model (same seed, so the same initial
    weights) and training split, and only what training needs. Per epoch: one ``randperm``
    and index gathers of each batch's rows (the trainer's batch order cost); per step:
    ``forward_shared``, the masked loss (per-row BCE-with-logits times the label mask, each
    task's mean over its labelled rows, summed over tasks: equal weighting, the same loss as
    the trainer's), ``zero_grad``, ``backward``, Adam. No validation, no metrics, no
    bookkeeping; timed as one call. The validation AUC after the last epoch is computed after
    the timing (it shows the loop trains the same model as well)."""
    from sklearn.metrics import roc_auc_score

    torch.manual_seed(seed)
    model = cast(MTLModel, automtl_model(data, topology, sizes)).to(device)
    train, valid = data.train.to(device), data.valid.to(device)
    names = [t.name for t in TASKS]
    columns = [train.task_column(n) for n in names]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator(device=device).manual_seed(seed)
    model.train()
    epoch_seconds = []
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(len(train), generator=generator, device=device)
        for start in range(0, len(train), batch_size):
            rows = order[start:start + batch_size]
            outputs, _ = model.forward_shared(train.numeric[rows], train.categorical[rows])
            loss = loop_loss(outputs, train.labels[rows][:, columns],
                             train.mask[rows][:, columns], names)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        synchronize(device)
        epoch_seconds.append(time.perf_counter() - started)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    model.eval()
    with torch.no_grad():
        outputs = model(valid.numeric, valid.categorical)
    auc = {}
    for name, column in zip(names, columns, strict=True):
        labelled = valid.mask[:, column].cpu().numpy()
        auc[name] = float(roc_auc_score(valid.labels[:, column].cpu().numpy()[labelled],
                                        outputs[name].float().reshape(-1).cpu().numpy()[labelled]))
    return RunResult("minimal loop", topology, batch_size, epochs, len(train), epoch_seconds,
                     auc, model.num_parameters(), call_seconds=wall, cpu_seconds=cpu)
