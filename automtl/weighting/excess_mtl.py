"""ExcessMTL (He, Feng, Dong & Zhang, "Robust Multi-Task Learning with Excess Risks", ICML
2024).

Task weights follow each task's estimated excess risk (its distance to its own optimum) rather
than its loss, so a task with high irreducible noise does not take over. The excess risk of
task k is estimated as ``g_k^T diag(H_k)^-1 g_k`` with ``H_k`` the AdaGrad-style accumulated
squared gradients, ``sqrt(sum_t g_k,t^2 + 1e-7)``, on the shared parameters; it is divided by
the task's first estimate, and the weights take an exponentiated-gradient step,
``w_k <- w_k exp(step_size * r_k)``, renormalised to sum to the task count. The weights used on
a batch are those after its step (the first batch records the first estimates and keeps 1).
The accumulators live per coordinate of the shared parameters: no ``grad_on`` option.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from automtl.weighting.gradient import Combination, GradientWeighting
from automtl.weighting.params import ExcessMTLParams
from automtl.weighting.registry import register_weighting


@register_weighting("excess_mtl")
class ExcessMTLWeighting(GradientWeighting[ExcessMTLParams]):
    """Exponentiated-gradient weights from normalised excess-risk estimates."""

    Params = ExcessMTLParams
    parameters_only = True

    def __init__(self, task_names: Sequence[str], params: ExcessMTLParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        self.squared_sums: torch.Tensor | None = None  # [K, P]
        self.first_risks = torch.zeros(self.num_tasks, dtype=torch.float64)  # 0: not yet seen
        self.loss_weights = torch.ones(self.num_tasks, dtype=torch.float64)

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        p: ExcessMTLParams = self.params
        if self.squared_sums is None or self.squared_sums.shape[1] != grads.shape[1]:
            self.squared_sums = torch.zeros(self.num_tasks, grads.shape[1], dtype=grads.dtype,
                                            device=grads.device)
            self.first_risks.zero_()
        index = torch.tensor(list(active))
        self.squared_sums[index] += grads.pow(2)
        risks = (grads.pow(2) / (self.squared_sums[index] + 1e-7).sqrt()).sum(1).double().cpu()
        first = self.first_risks[index]
        known = first > 0
        if bool(known.any()):
            ratios = torch.where(known, risks / first.clamp_min(1e-300), torch.zeros_like(risks))
            self.loss_weights[index] *= torch.exp(p.step_size * ratios)
            self.loss_weights *= self.num_tasks / self.loss_weights.sum()
        self.first_risks[index] = torch.where(known, first, risks.clamp_min(1e-300))
        return Combination(self.loss_weights[index].clone())
