"""GradNorm (Chen, Badrinarayanan, Lee & Rabinovich, ICML 2018).

Task weights ``w_k`` are learned so that the gradient norms ``G_k = ||grad_W w_k L_k||`` on the
last shared layer ``W`` move toward ``mean(G) * r_k^alpha``, where ``r_k`` is task k's relative
inverse training rate ``(L_k / L_k(0)) / mean_j(L_j / L_j(0))``: a task that lags (its loss fell
less) gets a larger target norm, hence a larger weight. The weights have their own Adam
optimiser (``lr``), step once per batch on ``sum_k |G_k - target_k|`` (the target held
constant, as in the paper), and are renormalised to sum to the task count.

``L_k(0)`` is the task's loss on the first batch where it is positive. A model without a
shared layer (``single_task``) gives nothing to balance: the weights then stay where they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from automtl.weighting.base import Weighting, WeightingContext
from automtl.weighting.params import GradNormParams
from automtl.weighting.registry import register_weighting


@register_weighting("gradnorm")
class GradNormWeighting(Weighting[GradNormParams]):
    """Learned weights balancing gradient norms on the last shared layer."""

    Params = GradNormParams
    initial_losses: torch.Tensor  # buffer: L_k(0), 0 until recorded

    def __init__(self, task_names: Sequence[str], params: GradNormParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        p: GradNormParams = self.params
        self.loss_weights = nn.Parameter(torch.ones(self.num_tasks))
        self.register_buffer("initial_losses", torch.zeros(self.num_tasks))
        self.optimizer = torch.optim.Adam([self.loss_weights], lr=p.lr)

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        stacked = self.stacked(losses)
        present = torch.tensor(self.present(context), device=stacked.device)
        used = self.loss_weights.detach().clone() * present
        shared = [p for p in context.last_shared_parameters if p.requires_grad]
        if shared and int(present.sum()) > 1:
            active = present.nonzero().flatten()
            self._update_weights(stacked, shared, active)
        (used * stacked).sum().backward()
        return self.as_dict(used)

    def _update_weights(self, stacked: torch.Tensor, shared: Sequence[nn.Parameter],
                        active: torch.Tensor) -> None:
        """One Adam step on the weights of the ``active`` (labelled) tasks only."""
        p: GradNormParams = self.params
        detached = stacked.detach().float()
        unset = (self.initial_losses <= 0) & (detached > 0)
        self.initial_losses.copy_(torch.where(unset, detached, self.initial_losses))
        norms = torch.stack([
            torch.linalg.vector_norm(torch.cat([
                (torch.zeros_like(w) if g is None else g).reshape(-1).float()
                for w, g in zip(shared, torch.autograd.grad(
                    stacked[k], shared, retain_graph=True, allow_unused=True), strict=True)]))
            for k in range(self.num_tasks)])
        ratios = torch.where(self.initial_losses > 0,
                             detached / self.initial_losses.clamp_min(1e-12),
                             torch.ones_like(detached))
        ratios, norms = ratios[active], norms[active]
        inverse_rate = ratios / ratios.mean().clamp_min(1e-12)
        weighted_norms = self.loss_weights[active] * norms
        target = (weighted_norms.mean() * inverse_rate.pow(p.alpha)).detach()
        gradnorm_loss = (weighted_norms - target).abs().sum()
        self.optimizer.zero_grad(set_to_none=True)
        self.loss_weights.grad = torch.autograd.grad(gradnorm_loss, self.loss_weights)[0]
        self.optimizer.step()
        with torch.no_grad():
            self.loss_weights.clamp_(min=1e-6)
            self.loss_weights.mul_(self.num_tasks / self.loss_weights.sum())
