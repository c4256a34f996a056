"""The min-norm point of the convex hull of task gradients (Sener & Koltun, NeurIPS 2018).

``min_{alpha in simplex} ||sum_k alpha_k g_k||^2``: exact for two vectors (Algorithm 1 of the
paper), Frank-Wolfe on the Gram matrix for more (Algorithm 2), started at the best pair's
solution as in the authors' code, so the result is never worse than any single gradient.
"""

from __future__ import annotations

import torch


def min_norm_two(dot11: float, dot12: float, dot22: float) -> tuple[float, float]:
    """``(gamma, cost)`` minimising ``||gamma v1 + (1 - gamma) v2||^2`` from the dot products.

    ``gamma = clip(((v2 - v1) . v2) / ||v1 - v2||^2, 0, 1)``.
    """
    denominator = dot11 - 2.0 * dot12 + dot22
    if denominator <= 1e-12:  # v1 == v2: every point of the segment is the same vector
        return 0.5, dot22
    gamma = min(max((dot22 - dot12) / denominator, 0.0), 1.0)
    cost = gamma * gamma * dot11 + 2.0 * gamma * (1.0 - gamma) * dot12 + \
        (1.0 - gamma) ** 2 * dot22
    return gamma, cost


def min_norm_weights(grads: torch.Tensor, max_iter: int = 250,
                     tolerance: float = 1e-5) -> torch.Tensor:
    """Simplex weights ``alpha`` [K] of the min-norm combination of ``grads`` [K, P]."""
    gram = (grads.double() @ grads.double().T).cpu()
    num = gram.shape[0]
    if num == 1:
        return torch.ones(1, dtype=grads.dtype)
    best = (float("inf"), 0, 1, 0.5)
    for i in range(num):
        for j in range(i + 1, num):
            gamma, cost = min_norm_two(float(gram[i, i]), float(gram[i, j]), float(gram[j, j]))
            if cost < best[0]:
                best = (cost, i, j, gamma)
    _, i, j, gamma = best
    alpha = torch.zeros(num, dtype=torch.float64)
    alpha[i], alpha[j] = gamma, 1.0 - gamma
    if num == 2:
        return alpha.to(grads.dtype)
    for _ in range(max_iter):
        gram_alpha = gram @ alpha
        vertex = int(torch.argmin(gram_alpha))
        step, _ = min_norm_two(float(alpha @ gram_alpha), float(gram_alpha[vertex]),
                               float(gram[vertex, vertex]))
        new_alpha = step * alpha
        new_alpha[vertex] += 1.0 - step
        change = float((new_alpha - alpha).abs().sum())
        alpha = new_alpha
        if change < tolerance:
            break
    return alpha.to(grads.dtype)
