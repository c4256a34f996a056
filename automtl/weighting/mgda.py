"""MGDA-UB (Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS
2018).

Per batch, the gradient of each task loss with respect to the shared representation ``Z`` (the
upper bound of the paper's section 3.3: one backward pass through the task heads per task
instead of through the shared encoder) is normalised, the min-norm point of their convex hull
gives simplex weights ``alpha`` (:mod:`automtl.weighting.min_norm`), and ``sum_k alpha_k L_k``
is backpropagated. ``normalization`` divides each gradient by: ``none`` 1, ``l2`` its norm,
``loss`` the task loss, ``loss+`` loss times norm (the authors' options).

The weights sum to 1 (a point of the simplex), not to the task count. A model without a shared
representation (``single_task``) has no conflict to resolve: every task then gets ``1/K``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from pydantic import Field

from automtl.weighting.base import Weighting, WeightingContext, WeightingParams, weighted_backward
from automtl.weighting.min_norm import min_norm_weights
from automtl.weighting.registry import register_weighting


class MGDAParams(WeightingParams):
    normalization: Literal["none", "l2", "loss", "loss+"] = "none"
    max_iter: int = Field(250, ge=1, description="Frank-Wolfe iterations (3+ tasks)")
    tolerance: float = Field(1e-5, gt=0.0)


def normalize_gradients(grads: torch.Tensor, losses: torch.Tensor, kind: str) -> torch.Tensor:
    """Divide each row of ``grads`` [K, P] by the chosen scale (``losses`` [K])."""
    if kind == "none":
        return grads
    norms = torch.linalg.vector_norm(grads, dim=1)
    scale = {"l2": norms, "loss": losses, "loss+": losses * norms}[kind]
    return grads / scale.clamp_min(1e-12).unsqueeze(1)


@register_weighting("mgda")
class MGDAWeighting(Weighting[MGDAParams]):
    """Min-norm (Pareto-stationary) weights from gradients on the shared representation."""

    Params = MGDAParams

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        p: MGDAParams = self.params
        shared = context.shared_representation
        if shared is None:
            return weighted_backward(self, losses, [1.0 / self.num_tasks] * self.num_tasks)
        if not shared.requires_grad:
            raise ValueError("weighting 'mgda': the shared representation does not require grad")
        stacked = self.stacked(losses)
        grads = torch.stack([
            _flat(torch.autograd.grad(stacked[k], shared, retain_graph=True,
                                      allow_unused=True)[0], shared)
            for k in range(self.num_tasks)])
        grads = normalize_gradients(grads, stacked.detach().float(), p.normalization)
        alpha = min_norm_weights(grads, p.max_iter, p.tolerance)
        return weighted_backward(self, losses, alpha)


def _flat(grad: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    return (torch.zeros_like(like) if grad is None else grad).reshape(-1).float()
