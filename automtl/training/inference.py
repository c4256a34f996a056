"""Batched prediction over a split already on the device, and inference latency."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

import torch
from torch import nn

from automtl.data.base import SplitTensors

#: rows per forward pass when predicting a whole split
EVAL_BATCH_SIZE = 8192


def autocast_context(device: torch.device, amp: bool) -> AbstractContextManager[object]:
    """bf16 autocast on CUDA when ``amp``; a no-op elsewhere (amp is a CUDA-only setting)."""
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


@torch.no_grad()
def predict(model: nn.Module, split: SplitTensors, device: torch.device, amp: bool = False,
            batch_size: int = EVAL_BATCH_SIZE) -> dict[str, torch.Tensor]:
    """``{task: raw prediction}`` (float32, on the device) in eval mode; restores the mode.
    A prediction is ``[N]``, or ``[N, C]`` logits for a multiclass task."""
    was_training = model.training
    model.eval()
    chunks: dict[str, list[torch.Tensor]] = {}
    try:
        for start in range(0, len(split), batch_size):
            batch = split.slice(start, start + batch_size)
            with autocast_context(device, amp):
                outputs = model(batch.numeric, batch.categorical)
            for task, value in outputs.items():
                value = value.float().reshape(len(batch), -1)  # [B, 1] or [B, C]
                chunks.setdefault(task, []).append(value.squeeze(1) if value.shape[1] == 1
                                                   else value)
    finally:
        model.train(was_training)
    return {task: torch.cat(parts) for task, parts in chunks.items()}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def measure_latency_ms(model: nn.Module, split: SplitTensors, device: torch.device,
                       amp: bool = False, rows: int = EVAL_BATCH_SIZE, repeats: int = 5,
                       warmup: int = 2, timed: Sequence[float] = ()) -> float:
    """Median milliseconds per 1,000 rows of one eval-mode forward pass over the first ``rows``
    rows of ``split`` (after ``warmup`` untimed passes).

    ``timed``: seconds of passes already made over the same rows with warm caches (the
    trainer's validation passes after its first epoch, when the split is one eval batch):
    they count as timed passes, only the ``repeats - len(timed)`` still missing are run, and
    without warm-up (the model has just run). Raises ``ValueError`` on an empty split.
    """
    batch = split.slice(0, min(rows, len(split)))
    if len(batch) == 0:
        raise ValueError("cannot measure latency on an empty split")
    timings = list(timed)
    warmup = 0 if timings else warmup
    was_training = model.training
    model.eval()
    try:
        for i in range(warmup + max(0, repeats - len(timings))):
            _synchronize(device)
            started = time.perf_counter()
            with autocast_context(device, amp):
                model(batch.numeric, batch.categorical)
            _synchronize(device)
            if i >= warmup:
                timings.append(time.perf_counter() - started)
    finally:
        model.train(was_training)
    return statistics.median(timings) * 1000.0 * 1000.0 / len(batch)
