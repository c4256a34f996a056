"""One timed training run of MMoE or PLE, in automtl or in a peer library, with the same sizes.

:class:`ModelSizes` fixes the architecture every tool builds; :class:`RunResult` is what a run
reports: the seconds of each training epoch only (data preparation and validation excluded,
as for the peers in :mod:`benchmarks.peers`), the validation AUC of the
model after the last epoch, and the parameter count (so equal sizes can be checked).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

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
from automtl.models.mmoe import MMoEParams
from automtl.models.ple import PLEParams
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

    @property
    def train_seconds(self) -> float:
        return sum(self.epoch_seconds)

    @property
    def rows_per_second(self) -> float:
        """Rows/s of the fastest epoch: other processes on shared cores only ever slow an
        epoch, so the fastest is the best estimate of what the tool itself can do."""
        return self.train_rows / min(self.epoch_seconds)

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
                     generator: torch.Generator, epoch: int
                     ) -> tuple[dict[str, float], dict[str, float]]:
        import time

        synchronize(self.device)
        started = time.perf_counter()
        result = super()._train_epoch(train, optimizer, generator, epoch)
        synchronize(self.device)
        self.train_epoch_seconds.append(time.perf_counter() - started)
        return result


def automtl_model(data: TabularDataset, topology: str, sizes: ModelSizes) -> torch.nn.Module:
    """The automtl network for ``topology`` at ``sizes`` on ``data``'s inputs."""
    return build_model(ModelConfig.from_parts(sizes.architecture(topology), data.schema, TASKS))


def train_automtl(data: TabularDataset, topology: str, sizes: ModelSizes, batch_size: int,
                  epochs: int, lr: float, device: torch.device, seed: int,
                  amp: bool = False, compile: bool = False) -> RunResult:
    """Adam, equal loss weights, every epoch run (early stopping off); AUC after the last
    epoch (not the restored best epoch, since the peers keep their last weights). ``amp``:
    bf16 autocast (CUDA only); ``compile``: ``TrainConfig.compile``."""
    torch.manual_seed(seed)
    model = automtl_model(data, topology, sizes)
    weighting = build_weighting(WeightingConfig(name="equal"), TASKS)
    config = TrainConfig(optimizer="adam", lr=lr, batch_size=batch_size, epochs=epochs,
                         early_stopping_patience=0, seed=seed, amp=amp, compile=compile)
    trainer = EpochTimedTrainer(model, weighting, config, device)
    result = trainer.fit(data.train, data.valid, TASKS)
    last = result.history[-1].valid_metrics
    return RunResult("automtl", topology, batch_size, epochs, len(data.train),
                     trainer.train_epoch_seconds, {t: last[t]["auc"] for t in last},
                     model.num_parameters())
