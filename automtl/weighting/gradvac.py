"""Gradient Vaccine, GradVac (Wang, Tsvetkov, Firat & Cao, "Gradient Vaccine: Investigating and
Improving Multi-task Optimization in Massively Multilingual Models", ICLR 2021).

Each pair of tasks keeps a target cosine similarity ``phi_hat_ij``, an exponential moving
average (factor ``beta``) of the observed ``phi_ij``, starting at 0. For each task ``i`` and the
other tasks ``j`` in a random order, when ``cos(g_i, g_j) < phi_hat_ij`` the gradient is moved
toward ``g_j`` until the cosine reaches the target:
``g_i += ||g_i|| (phi_hat sqrt(1 - phi^2) - phi sqrt(1 - phi_hat^2)) / (||g_j||
sqrt(1 - phi_hat^2)) g_j``; the altered gradients are summed. With every target at 0 this is
PCGrad. The update is a combination of the raw gradients; its coefficients are reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from automtl.weighting.gradient import Combination, GradientWeighting
from automtl.weighting.params import GradVacParams
from automtl.weighting.registry import register_weighting


@register_weighting("gradvac")
class GradVacWeighting(GradientWeighting[GradVacParams]):
    """Gradients pulled up to their pair's running cosine similarity, then summed."""

    Params = GradVacParams
    targets: torch.Tensor  # buffer [K, K]: phi_hat per ordered pair

    def __init__(self, task_names: Sequence[str], params: GradVacParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        self.register_buffer("targets", torch.zeros(self.num_tasks, self.num_tasks,
                                                    dtype=torch.float64))
        self.generator = torch.Generator().manual_seed(self.seed)

    def manual_seed(self, seed: int) -> None:
        super().manual_seed(seed)
        self.generator.manual_seed(seed)

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        beta = self.params.beta
        gram = (grads.double() @ grads.double().T).cpu()
        num = gram.shape[0]
        norms = gram.diagonal().clamp_min(1e-20).sqrt()
        targets = self.targets.cpu()
        coefficients = torch.eye(num, dtype=torch.float64)  # rows: altered g_i over raw G
        for i in range(num):
            for j in torch.randperm(num, generator=self.generator).tolist():
                if j == i:
                    continue
                gi_norm = (coefficients[i] @ gram @ coefficients[i]).clamp_min(1e-40).sqrt()
                cosine = float((coefficients[i] @ gram[:, j]) / (gi_norm * norms[j]))
                ti, tj = active[i], active[j]
                target = float(targets[ti, tj])
                if cosine < target:
                    step = gi_norm * (target * (1 - cosine ** 2) ** 0.5
                                      - cosine * (1 - target ** 2) ** 0.5) \
                        / (norms[j] * (1 - target ** 2) ** 0.5)
                    coefficients[i, j] += step
                targets[ti, tj] = (1 - beta) * target + beta * cosine
        self.targets.copy_(targets)
        return Combination(coefficients.sum(dim=0))
