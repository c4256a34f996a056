"""Impartial multi-task learning, IMTL (Liu, Li, Kuang, Xue, Chen, Yang, Liao & Zhang, "Towards
Impartial Multi-task Learning", ICLR 2021).

- IMTL-G (``mode="gradient"``): closed-form weights ``alpha`` (summing to 1) that make the
  update ``d = sum_k alpha_k g_k`` project equally onto every unit task gradient
  (``d . u_k`` the same for all k): with ``D = [g_1 - g_k]_{k>=2}``, ``U = [u_1 - u_k]_{k>=2}``,
  ``alpha_{2:K} = g_1 U^T (D U^T)^{-1}`` and ``alpha_1 = 1 - sum alpha_{2:K}``.
- IMTL-L (``mode="loss"``): a learnable scale ``s_k`` per task; the loss is
  ``e^{s_k} L_k - s_k`` (so ``e^{s_k} L_k`` is driven toward 1), ``s`` trained by the model's
  optimiser (:meth:`extra_parameters`).
- ``mode="hybrid"`` (the paper's full method): IMTL-G on the gradients of the scaled losses.

Task-specific parameters get the gradient of their own (scaled) loss. The reported weights are
the factors on ``grad L_k``: ``alpha_k e^{s_k}`` (hybrid), ``alpha_k`` or ``e^{s_k}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from automtl.weighting.base import WeightingContext
from automtl.weighting.gradient import Combination, GradientWeighting
from automtl.weighting.params import IMTLParams
from automtl.weighting.registry import register_weighting


def imtl_g_weights(grads: torch.Tensor) -> torch.Tensor:
    """IMTL-G's ``alpha`` [K] (sum 1) from the task gradients [K, P]."""
    g = grads.double()
    units = g / torch.linalg.vector_norm(g, dim=1, keepdim=True).clamp_min(1e-20)
    diffs = g[0:1] - g[1:]  # D [K-1, P]
    unit_diffs = units[0:1] - units[1:]  # U [K-1, P]
    rest = torch.linalg.lstsq((diffs @ unit_diffs.T).T, (g[0] @ unit_diffs.T).unsqueeze(1)) \
        .solution.squeeze(1)  # solves alpha (D U^T) = g_1 U^T
    return torch.cat([(1.0 - rest.sum()).unsqueeze(0), rest]).to(grads.dtype)


@register_weighting("imtl")
class IMTLWeighting(GradientWeighting[IMTLParams]):
    """Impartial gradients (IMTL-G), impartial loss scales (IMTL-L), or both."""

    Params = IMTLParams

    def __init__(self, task_names: Sequence[str], params: IMTLParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        self.log_scales = nn.Parameter(torch.zeros(self.num_tasks))

    @property
    def mode(self) -> str:
        return self.params.mode

    def extra_parameters(self) -> list[nn.Parameter]:
        return [] if self.mode == "gradient" else [self.log_scales]

    def task_losses(self, stacked: torch.Tensor) -> torch.Tensor:
        if self.mode == "gradient":
            return stacked
        return torch.exp(self.log_scales.detach()).to(stacked) * stacked

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        if self.mode == "loss":
            return Combination(torch.ones(len(active), dtype=grads.dtype, device=grads.device))
        return Combination(imtl_g_weights(grads))

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        weights = super().backward(losses, context)
        if self.mode == "gradient":
            return weights
        # d/ds (e^s L - s) = e^s L - 1, for the labelled tasks only
        present = torch.tensor(self.present(context), dtype=torch.float32)
        raw = self.stacked(losses).detach().float().cpu()
        scales = torch.exp(self.log_scales.detach().float().cpu())
        grad = ((scales * raw - 1.0) * present).to(self.log_scales)
        self.log_scales.grad = grad if self.log_scales.grad is None else \
            self.log_scales.grad + grad
        return {t: w * float(s) for (t, w), s in zip(weights.items(), scales, strict=True)}
