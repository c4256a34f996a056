"""PCGrad, gradient surgery (Yu, Kumar, Gupta, Levine, Hausman & Finn, NeurIPS 2020).

For the shared parameters, each task gradient ``g_i`` is projected, against the other tasks in
a random order, onto the normal plane of every ``g_j`` it conflicts with (``g_i . g_j < 0``):
``g_i <- g_i - (g_i . g_j) / ||g_j||^2 g_j``; the projected gradients are summed. Task-specific
parameters get their ordinary gradient of ``sum_k L_k``. The order comes from a
``torch.Generator`` seeded with the weighting's seed, so runs are reproducible. Every reported
weight is 1 (the method changes directions, not weights).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from automtl.weighting.base import (
    Weighting,
    WeightingContext,
    WeightingParams,
    accumulate_grads,
    flat_grads,
    unflatten_like,
)
from automtl.weighting.registry import register_weighting


def project_conflicting(grads: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """PCGrad's per-task projected gradients ``[K, P]`` from the raw ones ``[K, P]``."""
    projected = grads.clone()
    num = grads.shape[0]
    for i in range(num):
        order = torch.randperm(num, generator=generator).tolist()
        for j in order:
            if j == i:
                continue
            dot = torch.dot(projected[i], grads[j])
            if dot < 0:
                projected[i] -= dot / grads[j].pow(2).sum().clamp_min(1e-20) * grads[j]
    return projected


@register_weighting("pcgrad")
class PCGradWeighting(Weighting[WeightingParams]):
    """Projecting conflicting gradients on the shared parameters, then summing them."""

    def __init__(self, task_names: Sequence[str], params: WeightingParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        self.generator = torch.Generator().manual_seed(self.seed)

    def manual_seed(self, seed: int) -> None:
        super().manual_seed(seed)
        self.generator.manual_seed(seed)

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        stacked = self.stacked(losses)
        shared = [p for p in context.shared_parameters if p.requires_grad]
        task_params = [p for p in context.task_parameters if p.requires_grad]
        if shared:
            grads = torch.stack([flat_grads(stacked[k], shared, retain_graph=True)
                                 for k in range(self.num_tasks)])
            combined = project_conflicting(grads, self.generator).sum(dim=0)
            accumulate_grads(shared, unflatten_like(combined, shared))
        if task_params:
            stacked.sum().backward(inputs=task_params)
        return self.as_dict([1.0] * self.num_tasks)
