"""Conflict-averse gradient descent, CAGrad (Liu, Liu, Jin, Stone & Liu, NeurIPS 2021).

With ``g0`` the mean gradient, CAGrad picks the update within a ball of radius
``c ||g0||`` around ``g0`` that maximises the worst task's improvement. Its dual is
``min_{w in simplex} g_w . g0 + c ||g0|| ||g_w||`` (``g_w = sum_k w_k g_k``), solved here with
SciPy's SLSQP on the K x K Gram matrix (as the authors' code does); the update is
``d = g0 + c ||g0|| / ||g_w|| g_w``, divided by ``1 + c^2`` (the authors' ``rescale=1``). So
``c = 0`` is the mean gradient. ``d`` is a combination of the task gradients: the reported
weights are its coefficients ``(1/K + c ||g0|| w_k / ||g_w||) / (1 + c^2)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from automtl.weighting.gradient import Combination, GradientWeighting
from automtl.weighting.params import CAGradParams
from automtl.weighting.registry import register_weighting


def cagrad_weights(gram: np.ndarray, c: float, rescale: bool = True) -> np.ndarray:
    """Coefficients [K] of CAGrad's update from the Gram matrix [K, K] of the gradients."""
    from scipy.optimize import minimize  # here: scipy.optimize is slow to import per worker

    num = gram.shape[0]
    mean = np.full(num, 1.0 / num)
    if c == 0.0:
        return mean.copy()
    g0_norm = float(np.sqrt(max(mean @ gram @ mean, 0.0)))
    radius = c * g0_norm

    def objective(w: np.ndarray) -> float:
        return float(w @ gram @ mean + radius * np.sqrt(max(w @ gram @ w, 0.0) + 1e-12))

    result = minimize(objective, mean, bounds=[(0.0, 1.0)] * num, method="SLSQP",
                      constraints={"type": "eq", "fun": lambda w: np.sum(w) - 1.0},
                      options={"ftol": 1e-12, "maxiter": 200})
    w = np.clip(result.x, 0.0, None)
    w = w / w.sum()
    gw_norm = float(np.sqrt(max(w @ gram @ w, 0.0)))
    coefficients = mean + radius / max(gw_norm, 1e-12) * w
    return coefficients / (1.0 + c * c) if rescale else coefficients


@register_weighting("cagrad")
class CAGradWeighting(GradientWeighting[CAGradParams]):
    """The mean gradient, bent toward the worst-off task within radius ``c ||g0||``."""

    Params = CAGradParams

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        p: CAGradParams = self.params
        gram = (grads.double() @ grads.double().T).cpu().numpy()
        return Combination(torch.from_numpy(cagrad_weights(gram, p.c, p.rescale)))
