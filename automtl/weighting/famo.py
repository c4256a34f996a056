"""FAMO, fast adaptive multitask optimisation (Liu, Liu, Jin, Stone & Liu, NeurIPS 2023).

Task logits ``xi`` [K] give ``z = softmax(xi)``; the combined loss is
``sum_k z_k log(L_k + eps) / c`` with ``c = sum_k z_k / (L_k + eps)`` held constant, so the
update is ``sum_k w_k grad L_k`` with ``w_k = z_k / (c (L_k + eps))``: one backward per step and
O(K) extra memory. ``xi`` learns to even out the rate at which the log-losses fall: at each
batch, the change ``delta_k = log L_k(previous batch) - log L_k(this batch)`` is pulled back
through the softmax and ``xi`` takes one Adam step (learning rate ``lr``, weight decay
``weight_decay``, the paper's gamma), before the weights are used. This follows the authors'
code, which compares consecutive batches. Tasks without labelled rows are left out of the
softmax and of that update.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from automtl.weighting.base import Weighting, WeightingContext
from automtl.weighting.params import FAMOParams
from automtl.weighting.registry import register_weighting


@register_weighting("famo")
class FAMOWeighting(Weighting[FAMOParams]):
    """Logits that balance the rate of improvement of every task's log-loss."""

    Params = FAMOParams

    def __init__(self, task_names: Sequence[str], params: FAMOParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        p: FAMOParams = self.params
        # a plain CPU tensor, not a module parameter: FAMO's few scalars stay off the device
        self.logits = torch.zeros(self.num_tasks, requires_grad=True)
        self.optimizer = torch.optim.Adam([self.logits], lr=p.lr, weight_decay=p.weight_decay)
        self.previous: tuple[torch.Tensor, list[bool]] | None = None

    def update_logits(self, losses: torch.Tensor, present: list[bool]) -> None:
        """One Adam step on the logits of the tasks labelled in this batch and the last one."""
        p: FAMOParams = self.params
        if self.previous is None:
            return
        before, was_present = self.previous
        common = [k for k in range(self.num_tasks) if present[k] and was_present[k]]
        if len(common) < 2:
            return
        delta = (before[common] + p.eps).log() - (losses[common] + p.eps).log()
        with torch.enable_grad():
            z = torch.softmax(self.logits[common], dim=0)
            grad = torch.autograd.grad(z, self.logits, grad_outputs=delta.to(z))[0]
        self.optimizer.zero_grad(set_to_none=True)
        self.logits.grad = grad
        self.optimizer.step()

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        p: FAMOParams = self.params
        stacked = self.stacked(losses).float()
        present = self.present(context)
        detached = stacked.detach().cpu()
        self.update_logits(detached, present)
        self.previous = (detached, present)
        active = [k for k, on in enumerate(present) if on]
        weights = torch.zeros(self.num_tasks)
        if not active:
            return self.as_dict(weights)
        z = torch.softmax(self.logits.detach()[active], dim=0)
        shifted = detached[active] + p.eps
        c = (z / shifted).sum()
        weights[active] = z / (c * shifted)
        (weights.to(stacked) * stacked).sum().backward()
        return self.as_dict(weights)
