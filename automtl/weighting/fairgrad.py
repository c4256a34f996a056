"""FairGrad (Ban & Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024).

The update ``d = sum_k w_k g_k`` allocates the improvements ``g_k . d`` alpha-fairly: the
weights solve ``(G G^T w)_k = w_k^{-1/alpha}``, ``w > 0`` (``alpha = 1`` is Nash-MTL's
proportional fairness, ``alpha -> inf`` approaches max-min fairness). Solved, as in the
authors' code, by SciPy's bounded ``least_squares`` from ``w = 1/K``. For orthogonal gradients
``w_k = ||g_k||^(-2 alpha / (1 + alpha))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from automtl.weighting.gradient import Combination, GradientWeighting
from automtl.weighting.params import FairGradParams
from automtl.weighting.registry import register_weighting


def fairgrad_weights(gram: np.ndarray, alpha: float) -> np.ndarray:
    """``w`` [K] with ``gram @ w = w^(-1/alpha)`` for a Gram matrix [K, K]."""
    from scipy.optimize import least_squares  # here: scipy.optimize is slow to import per worker

    num = gram.shape[0]

    def residual(w: np.ndarray) -> np.ndarray:
        return gram @ w - np.power(1.0 / w, 1.0 / alpha)

    result = least_squares(residual, np.full(num, 1.0 / num), bounds=(1e-12, np.inf),
                           xtol=1e-12, ftol=1e-12, gtol=1e-12)
    return result.x


@register_weighting("fairgrad")
class FairGradWeighting(GradientWeighting[FairGradParams]):
    """Alpha-fair allocation of the improvement among tasks."""

    Params = FairGradParams

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        gram = (grads.double() @ grads.double().T).cpu().numpy()
        return Combination(torch.from_numpy(
            fairgrad_weights(gram, self.params.alpha)))
