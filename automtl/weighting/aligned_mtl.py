"""Aligned-MTL (Senushkin, Patakin, Kuznetsov & Konushin, "Independent Component Alignment for
Multi-Task Learning", CVPR 2023).

The task gradients ``G`` [K, P] are replaced by ``B G``, the nearest matrix with orthogonal rows
of equal norm ``sigma_min`` (the smallest singular value of ``G``), which makes the linear system
of gradients well conditioned: with ``G G^T = V diag(lambda) V^T`` (rank r),
``B = sqrt(lambda_min) V diag(lambda^-1/2) V^T``; the update is ``sum_k (B G)_k``, i.e. weights
``B^T 1`` (the paper's equal task preferences, as the authors' code).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from automtl.weighting.gradient import Combination, GradientWeighting
from automtl.weighting.params import GradientParams
from automtl.weighting.registry import register_weighting


def aligned_matrix(gram: torch.Tensor) -> torch.Tensor:
    """``B`` [K, K] from the Gram matrix ``G G^T`` [K, K] (float64)."""
    values, vectors = torch.linalg.eigh(gram.double())
    tolerance = values.max() * gram.shape[0] * torch.finfo(torch.float64).eps
    keep = values > tolerance
    values, vectors = values[keep], vectors[:, keep]
    if values.numel() == 0:
        return torch.zeros_like(gram, dtype=torch.float64)
    return values.min().sqrt() * (vectors / values.sqrt()) @ vectors.T


@register_weighting("aligned_mtl")
class AlignedMTLWeighting(GradientWeighting[GradientParams]):
    """Gradients aligned to an orthogonal, equal-norm set before summing."""

    Params = GradientParams

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        b = aligned_matrix(grads.double() @ grads.double().T)
        return Combination(b.sum(dim=0))
