"""SDMGrad, stochastic direction-oriented multi-objective gradient descent (Xiao, Ban & Ji,
"Direction-oriented Multi-objective Learning: Simple and Provable Stochastic Algorithms",
NeurIPS 2023).

The update stays close to the mean gradient ``g0`` while moving toward the common-descent
(MGDA) direction: ``w = argmin_{w in simplex} ||G^T w + lambda g0||^2`` and
``d = (G^T w + lambda g0) / (1 + lambda)``. Because ``sum w = 1``, ``G^T w + lambda g0`` is the
combination ``sum_k w_k (g_k + lambda g0)``, so ``w`` is the exact min-norm point of the shifted
gradients (:mod:`automtl.weighting.min_norm`) rather than the authors' projected-SGD
iterations. The paper's unbiased variant samples the inner and outer gradients on independent
batches; here both come from the one batch. ``lambda = 0`` is MGDA, large ``lambda`` the mean.
The reported weights are the coefficients ``(w_k + lambda / K) / (1 + lambda)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from automtl.weighting.gradient import Combination, GradientWeighting
from automtl.weighting.min_norm import min_norm_weights
from automtl.weighting.params import SDMGradParams
from automtl.weighting.registry import register_weighting


@register_weighting("sdmgrad")
class SDMGradWeighting(GradientWeighting[SDMGradParams]):
    """MGDA's min-norm direction, regularised toward the mean gradient."""

    Params = SDMGradParams

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        p: SDMGradParams = self.params
        num = grads.shape[0]
        shifted = grads.double() + p.lamda * grads.double().mean(0, keepdim=True)
        w = min_norm_weights(shifted, p.max_iter, 1e-9)
        return Combination((w + p.lamda / num) / (1.0 + p.lamda))
