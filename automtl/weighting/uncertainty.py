"""Homoscedastic-uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018).

Each task k has a learnable log-variance ``s_k = log sigma_k^2``, trained by the model's
optimiser (:meth:`extra_parameters`). The combined loss is

- ``form="uniform"`` (default): ``sum_k 1/2 exp(-s_k) L_k + 1/2 s_k`` for every task, i.e. the
  paper's regression likelihood (eq. 7) applied to all tasks, as LibMTL's UW does;
- ``form="paper"``: eq. 7 for regression tasks and the classification approximation (eq. 10),
  ``exp(-s_k) L_k + 1/2 s_k``, for binary tasks. Needs the task types (TaskSpecs).

The reported weight of task k is its factor on ``L_k``: ``1/2 exp(-s_k)`` or ``exp(-s_k)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from automtl.weighting.base import Weighting, WeightingContext, WeightingParams
from automtl.weighting.registry import register_weighting


class UncertaintyParams(WeightingParams):
    form: Literal["uniform", "paper"] = "uniform"
    init_log_variance: float = 0.0


@register_weighting("uncertainty")
class UncertaintyWeighting(Weighting[UncertaintyParams]):
    """Learned per-task log-variances; see the module docstring for the exact loss."""

    Params = UncertaintyParams
    factors: torch.Tensor  # buffer: 1/2 or 1 per task

    def __init__(self, task_names: Sequence[str], params: UncertaintyParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        p: UncertaintyParams = self.params
        if p.form == "paper":
            if self.task_types is None:
                raise ValueError("weighting 'uncertainty': params.form='paper' needs the task "
                                 "types; build it from TaskSpecs, not bare names")
            factors = [1.0 if self.task_types[t] == "binary" else 0.5 for t in self.task_names]
        else:
            factors = [0.5] * self.num_tasks
        self.register_buffer("factors", torch.tensor(factors))
        self.log_variances = nn.Parameter(torch.full((self.num_tasks,), p.init_log_variance))

    def extra_parameters(self) -> list[nn.Parameter]:
        return [self.log_variances]

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        stacked = self.stacked(losses)
        present = torch.tensor(self.present(context), dtype=stacked.dtype, device=stacked.device)
        weights = self.factors * torch.exp(-self.log_variances) * present  # unlabelled: out
        (weights * stacked + 0.5 * self.log_variances * present).sum().backward()
        return self.as_dict(weights)
