"""MoDo, multi-objective gradient with double sampling (Chen, Fernando, Ying & Chen, "Three-Way
Trade-Off in Multi-Objective Learning: Optimization, Generalization and Conflict-Avoidance",
NeurIPS 2023).

Simplex weights take one projected step per batch, ``lambda <- Proj_simplex(lambda - gamma
(G G^T + rho I) lambda)``, and the update is ``G^T lambda``: a stochastic, one-step version of
MGDA whose weights move slowly (``gamma``) instead of being re-solved. The paper estimates
``G G^T`` from two independent batches (unbiased); here the one batch serves both, which
biases the step. A task without labelled rows keeps its weight and is left out of the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from automtl.weighting.gradient import (
    Combination,
    GradientWeighting,
    project_simplex,
)
from automtl.weighting.params import MoDoParams
from automtl.weighting.registry import register_weighting


@register_weighting("modo")
class MoDoWeighting(GradientWeighting[MoDoParams]):
    """Slowly moving min-norm weights."""

    Params = MoDoParams

    def __init__(self, task_names: Sequence[str], params: MoDoParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        self.lambdas = torch.full((self.num_tasks,), 1.0 / self.num_tasks, dtype=torch.float64)

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        p: MoDoParams = self.params
        index = torch.tensor(list(active))
        share = self.lambdas[index].sum()
        lam = self.lambdas[index] / share
        gram = (grads.double() @ grads.double().T).cpu()
        lam = project_simplex(lam - p.gamma * (gram + p.rho * torch.eye(len(active),
                                                                     dtype=torch.float64)) @ lam)
        self.lambdas[index] = lam * share
        return Combination(lam)
