"""Homoscedastic-uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018).

Each task k has a learnable log-variance ``s_k = log sigma_k^2``, trained by the model's
optimiser (:meth:`extra_parameters`) without weight decay and starting at
``init_log_variance`` (default 0, i.e. sigma_k = 1, as in the paper's code and LibMTL). The
combined loss is

- ``form="uniform"`` (default): ``sum_k 1/2 exp(-s_k) L_k + 1/2 s_k`` for every task, i.e. the
  paper's regression likelihood (eq. 7, Gaussian, ``1/(2 sigma^2) L + log sigma``) applied to
  binary tasks too, as LibMTL's UW does;
- ``form="paper"``: eq. 7 for regression tasks and the paper's classification approximation
  (eq. 10, a softmax scaled by ``1/sigma^2``: ``1/sigma^2 L + log sigma``), i.e.
  ``exp(-s_k) L_k + 1/2 s_k``, for binary and multiclass tasks. Needs the task types (TaskSpecs).

For a binary task the two forms differ only on the way to equilibrium: at the optimum of
``s_k`` for a fixed loss ``L_k`` the uniform form has ``exp(s_k) = L_k`` and the paper form
``exp(s_k) = 2 L_k``, so both give the loss the weight ``1 / (2 L_k)``; from ``s_k = 0`` the
paper form starts at weight 1 and the uniform form at 1/2. ``benchmarks/paper_checks.py``
compares the two on the same data.

The reported weight of task k is its factor on ``L_k``: ``1/2 exp(-s_k)`` or ``exp(-s_k)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from automtl.weighting.base import Weighting, WeightingContext
from automtl.weighting.params import UncertaintyParams
from automtl.weighting.registry import register_weighting


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
            # classification (binary and multiclass: the paper's eq. 10 is for softmax) vs
            # regression (eq. 7)
            factors = [0.5 if self.task_types[t] == "regression" else 1.0
                       for t in self.task_names]
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
