"""MMoE and PLE trained with the peers users would pick instead: DeepCTR-Torch and torch-rechub.

Both get automtl's encoded splits (the same standardised numeric matrix and categorical indices),
the same sizes (:class:`~benchmarks.runs.ModelSizes`), Adam with the same learning rate and no
weight decay or L2, the same batch size and epochs. Numeric features go in as one vector-valued
dense feature (``DenseFeat("dense", n)`` / ``DenseFeature("dense", embed_dim=n)``), the fastest
form either library documents; each categorical column is a sparse feature with an embedding
of the same width. Only the training epochs are timed: DeepCTR through an epoch callback inside
``model.fit`` (its array concatenation before the first epoch is excluded), torch-rechub by
timing ``MTLTrainer.train_one_epoch`` on the loader its ``DataGenerator`` builds.

Differences the libraries impose are kept and named in the output: DeepCTR initialises its
dense layers with N(0, 1e-4) and its gates have no bias; torch-rechub's ``MLP`` puts BatchNorm
after every linear layer, gates included.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import tempfile
import threading
import time
from collections.abc import Iterator
from unittest import mock

import numpy as np
import torch

from automtl.data import TabularDataset
from automtl.data.base import SplitTensors
from benchmarks.common import synchronize
from benchmarks.runs import ModelSizes, RunResult

PEERS: dict[str, str] = {"deepctr-torch": "deepctr_torch", "torch-rechub": "torch_rechub"}


def missing_peer(tool: str) -> str | None:
    """Why ``tool`` cannot run here (not installed), or None when it can."""
    if tool not in PEERS:
        raise ValueError(f"unknown peer {tool!r}; valid: {sorted(PEERS)}")
    if importlib.util.find_spec(PEERS[tool]) is None:
        return f"{tool} is not installed (pip install -e '.[bench]')"
    return None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Swallow the peers' prints and progress bars (tqdm writes to stderr)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _columns(split: SplitTensors, data: TabularDataset) -> dict[str, np.ndarray]:
    """``{"dense": [N, n_num] float32, <categorical name>: [N] int64, ...}`` from a split."""
    columns: dict[str, np.ndarray] = {}
    if data.schema.numeric:
        columns["dense"] = split.numeric.numpy().astype(np.float32)
    for index, feature in enumerate(data.schema.categorical):
        columns[feature.name] = split.categorical[:, index].numpy()
    return columns


def _labels(split: SplitTensors) -> np.ndarray:
    return split.labels.numpy().astype(np.float32)


def _auc(labels: np.ndarray, predictions: np.ndarray, names: tuple[str, ...]) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    return {name: float(roc_auc_score(labels[:, i], predictions[:, i]))
            for i, name in enumerate(names)}


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{device.index or 0}"
    return "cpu"


# --------------------------------------------------------------------------------- DeepCTR

def _import_deepctr_offline() -> None:
    """Import deepctr_torch without its import-time PyPI version check: the check runs in a
    thread calling ``requests.get`` (no timeout) and prints; here the call fails at once and
    the thread is joined before the benchmark goes on."""
    import sys

    if "deepctr_torch" in sys.modules:
        return
    import requests

    before = set(threading.enumerate())
    offline = mock.patch.object(requests, "get",
                                side_effect=OSError("benchmarks: no version check"))
    with offline, _quiet():
        import deepctr_torch  # noqa: F401

        for thread in set(threading.enumerate()) - before:
            thread.join(timeout=10)


def train_deepctr(data: TabularDataset, topology: str, sizes: ModelSizes, batch_size: int,
                  epochs: int, lr: float, device: torch.device, seed: int) -> RunResult:
    """``deepctr_torch.models.MMOE`` / ``PLE`` trained with its own ``fit``."""
    _import_deepctr_offline()
    from deepctr_torch.callbacks import Callback
    from deepctr_torch.inputs import DenseFeat, SparseFeat
    from deepctr_torch.models import MMOE, PLE

    features: list[object] = []
    if data.schema.numeric:
        features.append(DenseFeat("dense", len(data.schema.numeric)))
    features += [SparseFeat(f.name, vocabulary_size=f.cardinality,
                            embedding_dim=sizes.embedding_dim) for f in data.schema.categorical]
    common = {"expert_dnn_hidden_units": (sizes.expert_units,), "gate_dnn_hidden_units": (),
              "tower_dnn_hidden_units": (sizes.tower_units,), "l2_reg_linear": 0.0,
              "l2_reg_embedding": 0.0, "l2_reg_dnn": 0.0, "seed": seed,
              "task_types": ("binary", "binary"), "task_names": data.task_names,
              "device": _device_name(device)}
    torch.manual_seed(seed)
    if topology == "mmoe":
        model = MMOE(features, num_experts=sizes.mmoe_experts, **common)
    elif topology == "ple":
        model = PLE(features, shared_expert_num=sizes.ple_shared,
                    specific_expert_num=sizes.ple_task, num_levels=sizes.ple_levels, **common)
    else:
        raise ValueError(f"topology: unknown {topology!r}; valid: ['mmoe', 'ple']")
    model.compile(torch.optim.Adam(model.parameters(), lr=lr),
                  loss=["binary_crossentropy", "binary_crossentropy"])

    class EpochTimer(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self.cpu_seconds: list[float] = []
            self._started = self._cpu = 0.0

        def on_epoch_begin(self, epoch: int, logs: object = None) -> None:
            synchronize(device)
            self._started, self._cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            synchronize(device)
            self.seconds.append(time.perf_counter() - self._started)
            self.cpu_seconds.append(time.process_time() - self._cpu)

    timer = EpochTimer()
    train_x, train_y = _columns(data.train, data), _labels(data.train)
    with _quiet():
        model.fit(train_x, train_y, batch_size=batch_size, epochs=epochs, verbose=0,
                  callbacks=[timer])
        predictions = model.predict(_columns(data.valid, data), batch_size=4096)
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return RunResult("deepctr-torch", topology, batch_size, epochs, len(data.train),
                     timer.seconds, _auc(_labels(data.valid), predictions, data.task_names),
                     parameters, epoch_cpu_seconds=timer.cpu_seconds)


# ----------------------------------------------------------------------------- torch-rechub

def train_rechub(data: TabularDataset, topology: str, sizes: ModelSizes, batch_size: int,
                 epochs: int, lr: float, device: torch.device, seed: int) -> RunResult:
    """``torch_rechub.models.multi_task.MMOE`` / ``PLE`` with its ``MTLTrainer``."""
    from torch_rechub.basic.features import DenseFeature, SparseFeature
    from torch_rechub.models.multi_task import MMOE, PLE
    from torch_rechub.trainers import MTLTrainer
    from torch_rechub.utils.data import DataGenerator

    features: list[object] = []
    features += [SparseFeature(f.name, vocab_size=f.cardinality, embed_dim=sizes.embedding_dim)
                 for f in data.schema.categorical]
    if data.schema.numeric:
        features.append(DenseFeature("dense", embed_dim=len(data.schema.numeric)))
    task_types = ["classification", "classification"]
    expert_params = {"dims": [sizes.expert_units]}
    towers = [{"dims": [sizes.tower_units]} for _ in task_types]
    torch.manual_seed(seed)
    if topology == "mmoe":
        model = MMOE(features, task_types, n_expert=sizes.mmoe_experts,
                     expert_params=expert_params, tower_params_list=towers)
    elif topology == "ple":
        model = PLE(features, task_types, n_level=sizes.ple_levels,
                    n_expert_specific=sizes.ple_task, n_expert_shared=sizes.ple_shared,
                    expert_params=expert_params, tower_params_list=towers)
    else:
        raise ValueError(f"topology: unknown {topology!r}; valid: ['mmoe', 'ple']")
    valid_x, valid_y = _columns(data.valid, data), _labels(data.valid)
    generator = DataGenerator(_columns(data.train, data), _labels(data.train))
    train_loader, valid_loader, _ = generator.generate_dataloader(
        x_val=valid_x, y_val=valid_y, x_test=valid_x, y_test=valid_y, batch_size=batch_size)
    seconds: list[float] = []
    cpu_seconds: list[float] = []
    with tempfile.TemporaryDirectory() as model_path, _quiet():
        trainer = MTLTrainer(model, task_types=task_types,
                             optimizer_params={"lr": lr, "weight_decay": 0.0}, n_epoch=epochs,
                             device=_device_name(device), model_path=model_path)
        for _ in range(epochs):
            synchronize(device)
            started, cpu = time.perf_counter(), time.process_time()
            trainer.train_one_epoch(train_loader)
            synchronize(device)
            seconds.append(time.perf_counter() - started)
            cpu_seconds.append(time.process_time() - cpu)
        scores = trainer.evaluate(trainer.model, valid_loader)
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return RunResult("torch-rechub", topology, batch_size, epochs, len(data.train), seconds,
                     {name: float(s) for name, s in zip(data.task_names, scores, strict=True)},
                     parameters, epoch_cpu_seconds=cpu_seconds)


TRAINERS = {"deepctr-torch": train_deepctr, "torch-rechub": train_rechub}
