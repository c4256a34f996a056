"""Dual-balancing multi-task learning, DB-MTL (Lin, Ye, Zhang, Zhang, Hu, Kwok & Zhang,
"Dual-Balancing for Multi-Task Learning", arXiv 2308.12029, 2023).

Two balances: loss scale, by differentiating ``log(L_k + eps)`` instead of ``L_k``; gradient
magnitude, by keeping an exponential moving average ``h_k`` of each task's (log-loss)
gradient on the shared parameters (``h_k <- g_k + beta_t (h_k - g_k)``, ``beta_t = beta /
t^beta_sigma``, ``h_k = g_k`` on the first step) and scaling every ``h_k`` to the largest norm:
the update is ``sum_k (max_j ||h_j|| / ||h_k||) h_k``. Task heads get the gradient of their own
log-loss. The averages live per coordinate of the shared parameters, so DB-MTL has no
``grad_on`` option. The reported weights are the scale factors ``max_j ||h_j|| / ||h_k||``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from automtl.weighting.gradient import Combination, GradientWeighting
from automtl.weighting.params import DBMTLParams
from automtl.weighting.registry import register_weighting


@register_weighting("db_mtl")
class DBMTLWeighting(GradientWeighting[DBMTLParams]):
    """Log-loss gradients, averaged over steps and scaled to the largest norm."""

    Params = DBMTLParams
    parameters_only = True

    def __init__(self, task_names: Sequence[str], params: DBMTLParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        self.averages: torch.Tensor | None = None  # [K, P]
        self.seen = torch.zeros(self.num_tasks, dtype=torch.bool)
        self.step = 0

    def task_losses(self, stacked: torch.Tensor) -> torch.Tensor:
        return (stacked + self.params.eps).log()

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        p: DBMTLParams = self.params
        self.step += 1
        beta = p.beta / self.step ** p.beta_sigma
        if self.averages is None or self.averages.shape[1] != grads.shape[1]:
            self.averages = torch.zeros(self.num_tasks, grads.shape[1], dtype=grads.dtype,
                                        device=grads.device)
            self.seen.zero_()
        index = torch.tensor(list(active))
        fresh = self.seen[index].logical_not().to(grads.device).unsqueeze(1)
        averaged = torch.where(fresh, grads, grads + beta * (self.averages[index] - grads))
        self.averages[index] = averaged
        self.seen[index] = True
        norms = torch.linalg.vector_norm(averaged, dim=1)
        scales = norms.max() / norms.clamp_min(1e-12)
        return Combination(scales, scales @ averaged)
