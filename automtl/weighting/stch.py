"""Smooth Tchebycheff scalarisation, STCH (Lin, Zhang, Liu, Zhang & Zhang, "Smooth
Tchebycheff Scalarization for Multi-Objective Optimization", ICML 2024).

The combined loss is ``mu * log sum_k exp(lambda_k (f_k - z_k) / mu)``, a smooth maximum of the
preference-weighted task objectives ``f_k`` (the losses, or their logarithms with
``log_losses``, as the authors' multi-task code does) above the ideal point ``z`` (0). Its
gradient is ``sum_k lambda_k softmax_k(lambda (f - z) / mu) grad f_k``: the worst task leads,
more sharply as ``mu`` shrinks (``mu -> 0`` is the classic Tchebycheff max, ``mu -> inf``
equal weights / K). Preferences ``lambda_k`` default to 1. Tasks without labelled rows are left
out of the softmax. The reported weights are the factors on ``grad L_k``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from automtl.weighting.base import Weighting, WeightingContext
from automtl.weighting.params import STCHParams
from automtl.weighting.registry import register_weighting


@register_weighting("stch")
class STCHWeighting(Weighting[STCHParams]):
    """A smooth maximum of the task losses."""

    Params = STCHParams

    def __init__(self, task_names: Sequence[str], params: STCHParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        p: STCHParams = self.params
        given = p.preferences or dict.fromkeys(self.task_names, 1.0)
        unknown = sorted(set(given) - set(self.task_names))
        missing = [t for t in self.task_names if t not in given]
        if unknown or missing:
            raise ValueError(f"weighting 'stch': params.preferences must name every task "
                             f"exactly; unknown {unknown}, missing {missing}")
        if any(not given[t] > 0 for t in self.task_names):
            raise ValueError("weighting 'stch': params.preferences must be > 0")
        self.preferences = torch.tensor([float(given[t]) for t in self.task_names])

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        p: STCHParams = self.params
        stacked = self.stacked(losses).float()
        active = [k for k, on in enumerate(self.present(context)) if on]
        weights = torch.zeros(self.num_tasks)
        if not active:
            return self.as_dict(weights)
        chosen = stacked[active]
        objectives = chosen.clamp_min(1e-8).log() if p.log_losses else chosen
        lam = self.preferences[active].to(chosen.device)
        combined = p.mu * torch.logsumexp(lam * objectives / p.mu, dim=0)
        combined.backward()
        factors = lam * torch.softmax(lam * objectives.detach() / p.mu, dim=0)
        if p.log_losses:
            factors = factors / chosen.detach().clamp_min(1e-8)
        weights[active] = factors.cpu()
        return self.as_dict(weights)
