"""PCGrad, gradient surgery (Yu, Kumar, Gupta, Levine, Hausman & Finn, NeurIPS 2020).

For the shared part, each task gradient ``g_i`` is projected, against the other tasks in a
random order, onto the normal plane of every ``g_j`` it conflicts with (``g_i . g_j < 0``):
``g_i <- g_i - (g_i . g_j) / ||g_j||^2 g_j``; the projected gradients are summed. Task-specific
parameters get their ordinary gradient. The order comes from a ``torch.Generator`` seeded with
the weighting's seed, so runs are reproducible. Each projected gradient is a combination of the
raw ones, so the update is ``sum_k w_k g_k``; the reported ``w_k`` are those coefficients (all
1 when nothing conflicts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from automtl.weighting.gradient import Combination, GradientWeighting
from automtl.weighting.params import GradientParams
from automtl.weighting.registry import register_weighting


def project_conflicting(grads: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """PCGrad's per-task projected gradients ``[K, P]`` from the raw ones ``[K, P]``."""
    return pcgrad_coefficients(grads, generator) @ grads


def pcgrad_coefficients(grads: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``C`` [K, K] with ``C @ grads`` the projected gradients (``C`` starts as the identity)."""
    num = grads.shape[0]
    gram = grads.double() @ grads.double().T
    coefficients = torch.eye(num, dtype=torch.float64)
    for i in range(num):
        order = torch.randperm(num, generator=generator).tolist()
        for j in order:
            if j == i:
                continue
            dot = coefficients[i] @ gram[:, j]  # projected g_i . g_j
            if dot < 0:
                coefficients[i, j] -= dot / gram[j, j].clamp_min(1e-20)
    return coefficients.to(grads.dtype)


@register_weighting("pcgrad")
class PCGradWeighting(GradientWeighting[GradientParams]):
    """Projecting conflicting gradients on the shared part, then summing them."""

    Params = GradientParams

    def __init__(self, task_names: Sequence[str], params: GradientParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        self.generator = torch.Generator().manual_seed(self.seed)

    def manual_seed(self, seed: int) -> None:
        super().manual_seed(seed)
        self.generator.manual_seed(seed)

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        return Combination(pcgrad_coefficients(grads, self.generator).sum(dim=0))
