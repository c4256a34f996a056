"""UPGrad, unconflicting projection of gradients (Quinton & Rey, "Jacobian Descent for
Multi-Objective Optimization", arXiv 2406.16232, 2024).

Each task gradient ``g_i`` is projected onto the dual cone ``{x : G x >= 0}`` of the Jacobian's
rows and the projections are averaged. The projection of ``G^T u`` is ``G^T v*`` with
``v* = argmin_{v >= u} v^T (G G^T) v`` (the paper's Proposition 1); with ``R^T R = G G^T`` that is
the non-negative least-squares problem ``min_{z >= 0} ||R z + R u||^2`` (``v = u + z``), solved
exactly by SciPy's NNLS. The update ``sum_i v*_i^T G / K`` has a non-negative inner product
with every task gradient; the reported weights are its coefficients (``1/K`` each when nothing
conflicts).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from automtl.weighting.gradient import Combination, GradientWeighting, psd_root
from automtl.weighting.params import GradientParams
from automtl.weighting.registry import register_weighting


def upgrad_weights(gram: torch.Tensor) -> torch.Tensor:
    """The coefficients [K] of UPGrad's update from the Gram matrix [K, K]."""
    from scipy.optimize import nnls  # here: scipy.optimize is slow to import per worker

    num = gram.shape[0]
    root = psd_root(gram).numpy()
    total = np.zeros(num)
    for i in range(num):
        u = np.zeros(num)
        u[i] = 1.0
        z, _ = nnls(root, -root @ u)
        total += u + z
    return torch.from_numpy(total / num)


@register_weighting("upgrad")
class UPGradWeighting(GradientWeighting[GradientParams]):
    """The average of the task gradients projected onto the dual cone."""

    Params = GradientParams

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        return Combination(upgrad_weights((grads.double() @ grads.double().T).cpu()))
