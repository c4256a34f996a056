"""MoCo, multi-objective gradient correction (Fernando, Shen, Liu, Chaudhury, Murugesan & Chen,
"Mitigating Gradient Bias in Multi-objective Learning: A Provably Convergent Approach", ICLR
2023).

A tracked gradient ``y_k`` per task follows the stochastic ones, ``y_k <- y_k - beta_t (y_k -
g_k)`` (``y`` starts at the first gradients), the simplex weights take one projected step,
``lambda <- Proj_simplex(lambda - gamma_t (Y Y^T + rho I) lambda)``, and the update is
``Y^T lambda`` (the paper's Algorithm 1). ``beta_t = beta / t^beta_sigma`` and
``gamma_t = gamma / t^gamma_sigma`` at step t (1-based). ``y`` lives per coordinate of the shared
parameters, so MoCo has no ``grad_on`` option. A task without labelled rows keeps its ``y``
and is left out of the step. The reported weights are ``lambda``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from automtl.weighting.gradient import Combination, GradientWeighting, project_simplex
from automtl.weighting.params import MoCoParams
from automtl.weighting.registry import register_weighting


@register_weighting("moco")
class MoCoWeighting(GradientWeighting[MoCoParams]):
    """Tracked task gradients and a projected-gradient step on their simplex weights."""

    Params = MoCoParams
    parameters_only = True

    def __init__(self, task_names: Sequence[str], params: MoCoParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        self.tracked: torch.Tensor | None = None  # [K, P]
        self.seen = torch.zeros(self.num_tasks, dtype=torch.bool)
        self.lambdas = torch.full((self.num_tasks,), 1.0 / self.num_tasks, dtype=torch.float64)
        self.step = 0

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        p: MoCoParams = self.params
        self.step += 1
        beta = p.beta / self.step ** p.beta_sigma
        gamma = p.gamma / self.step ** p.gamma_sigma
        if self.tracked is None or self.tracked.shape[1] != grads.shape[1]:
            self.tracked = torch.zeros(self.num_tasks, grads.shape[1], dtype=grads.dtype,
                                       device=grads.device)
            self.seen.zero_()
        index = torch.tensor(list(active))
        fresh = ~self.seen[index]
        current = self.tracked[index]
        tracked = torch.where(fresh.to(grads.device).unsqueeze(1), grads,
                              current - beta * (current - grads))
        self.tracked[index] = tracked
        self.seen[index] = True
        gram = tracked.double() @ tracked.double().T
        lam = self.lambdas[index]
        lam = lam / lam.sum()
        step = (gram.cpu() + p.rho * torch.eye(len(active), dtype=torch.float64)) @ lam
        lam = project_simplex(lam - gamma * step)
        self.lambdas[index] = lam * self.lambdas[index].sum()
        return Combination(lam, lam.to(tracked) @ tracked)
