"""MGDA-UB (Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS
2018).

Per batch, the gradient of each task loss with respect to the shared representation ``Z`` (the
upper bound of the paper's section 3.3: one backward pass through the task heads per task
instead of through the shared encoder; ``grad_on="parameters"`` takes the exact MGDA gradients
on the shared parameters instead) is normalised, and the min-norm point of their convex hull
gives simplex weights ``alpha`` (:mod:`automtl.weighting.min_norm`); the shared part gets
``sum_k alpha_k grad L_k``, each task head its own loss's gradient (Algorithm 2).
``normalization`` divides each gradient by: ``none`` 1, ``l2`` its norm, ``loss`` the task
loss, ``loss+`` loss times norm (the authors' options).

The weights sum to 1 (a point of the simplex), not to the task count. A task without labelled
rows in the batch is left out: its zero gradient would otherwise be the min-norm point and stop
every update. A model with nothing shared gets the plain sum of the losses.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from automtl.weighting.gradient import Combination, GradientWeighting
from automtl.weighting.min_norm import min_norm_weights
from automtl.weighting.params import MGDAParams
from automtl.weighting.registry import register_weighting


def normalize_gradients(grads: torch.Tensor, losses: torch.Tensor, kind: str) -> torch.Tensor:
    """Divide each row of ``grads`` [K, P] by the chosen scale (``losses`` [K])."""
    if kind == "none":
        return grads
    norms = torch.linalg.vector_norm(grads, dim=1)
    scale = {"l2": norms, "loss": losses, "loss+": losses * norms}[kind]
    return grads / scale.clamp_min(1e-12).unsqueeze(1)


@register_weighting("mgda")
class MGDAWeighting(GradientWeighting[MGDAParams]):
    """Min-norm (Pareto-stationary) weights, by default from the shared representation."""

    Params = MGDAParams

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        p: MGDAParams = self.params
        normalised = normalize_gradients(grads, losses, p.normalization)
        return Combination(min_norm_weights(normalised, p.max_iter, p.tolerance))
