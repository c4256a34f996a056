"""The common frame of gradient-based strategies (MGDA, PCGrad, CAGrad, Nash-MTL, ...).

Per batch a :class:`GradientWeighting` computes one gradient per labelled task on the shared
part of the model, hands the ``[K, P]`` matrix to :meth:`GradientWeighting.combine` and applies
what it returns:

- ``grad_on="parameters"``: the gradients are taken w.r.t. the shared parameters (one
  ``autograd.grad`` per task, restricted to the shared part, so the task heads are not
  differentiated K times); the combined direction is written into their ``.grad``.
- ``grad_on="representation"``: the gradients are taken w.r.t. the shared representation ``Z``
  (``[B, ...]``, MGDA-UB's upper bound, Sener & Koltun NeurIPS 2018), which only
  differentiates the task heads; the combination is then backpropagated once through the
  encoder. Topologies without one shared representation (cross-stitch, single-task) use the
  shared parameters instead.

Task-specific parameters always get the plain gradient of their own task's loss, as in
MGDA-UB's Algorithm 2 (a weight would only rescale a head's step). A task with no labelled row
in the batch is left out (weight 0); with one labelled task, its own gradient is the update.
A model with no shared part at all gets the plain sum of the labelled losses (weights 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch
from torch import nn

from automtl.weighting.base import Weighting, WeightingContext, accumulate_grads, unflatten_like
from automtl.weighting.params import WeightingParams


@dataclass(frozen=True)
class Combination:
    """What :meth:`GradientWeighting.combine` returns for the labelled tasks.

    ``weights`` [K]: the update is ``weights @ grads`` (what is reported, too). ``direction``
    [P]: an update that is not such a combination (GradDrop, the tracked gradients of MoCo and
    DB-MTL); then ``weights`` are only reported.
    """

    weights: torch.Tensor
    direction: torch.Tensor | None = None


#: a strategy's Params; those without ``grad_on`` (parameters-only methods) use the parameters
GP = TypeVar("GP", bound=WeightingParams)


class GradientWeighting(Weighting[GP], Generic[GP]):
    """Base of the per-task-gradient strategies; subclasses implement :meth:`combine`."""

    #: methods whose state lives per coordinate of the parameters (MoCo, DB-MTL, ExcessMTL)
    #: cannot use the per-batch representation
    parameters_only: bool = False

    @property
    def grad_on(self) -> str:
        return "parameters" if self.parameters_only else \
            str(getattr(self.params, "grad_on", "parameters"))

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        """Combine ``grads`` [K', P] (float32) of the labelled tasks ``active`` (indices into
        ``task_names``, K' >= 2) whose losses are ``losses`` [K'] (detached)."""
        raise NotImplementedError

    def task_losses(self, stacked: torch.Tensor) -> torch.Tensor:
        """The losses the method differentiates, [K] (IMTL-L scales them, DB-MTL logs them)."""
        return stacked

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        stacked = self.task_losses(self.stacked(losses))
        active = [k for k, present in enumerate(self.present(context)) if present]
        weights = torch.zeros(self.num_tasks)
        if not active:
            return self.as_dict(weights)
        shared = [p for p in context.shared_parameters if p.requires_grad]
        task_params = [p for p in context.task_parameters if p.requires_grad]
        representation = context.shared_representation
        use_rep = self.grad_on == "representation" and representation is not None \
            and representation.requires_grad
        if len(active) == 1 or not (shared or use_rep):
            stacked[active].sum().backward()
            weights[active] = 1.0
            return self.as_dict(weights)
        targets: list[torch.Tensor] = [representation] if use_rep else shared  # type: ignore
        grads = torch.stack([_flat_grad(stacked[k], targets) for k in active])
        combination = self.combine(grads, stacked.detach()[active].float(), active)
        weights[active] = combination.weights.detach().float().cpu()
        direction = combination.direction if combination.direction is not None else \
            combination.weights.to(grads) @ grads
        if use_rep:
            self._apply_through_representation(direction, representation, shared,  # type: ignore
                                               stacked, combination, active)
        else:
            accumulate_grads(shared, unflatten_like(direction, shared))
        if task_params:
            stacked[active].sum().backward(inputs=task_params)
        return self.as_dict(weights)

    def _apply_through_representation(self, direction: torch.Tensor, representation: torch.Tensor,
                                      shared: list[nn.Parameter], stacked: torch.Tensor,
                                      combination: Combination, active: Sequence[int]) -> None:
        """Backpropagate the combined gradient of ``Z`` into the shared parameters under it; a
        shared parameter above ``Z`` (a shared gate) gets the weighted (or plain) loss."""
        if not shared:
            return
        grads = torch.autograd.grad(representation, shared, retain_graph=True,
                                    grad_outputs=direction.view_as(representation)
                                    .to(representation.dtype), allow_unused=True)
        accumulate_grads(shared, grads)
        above = [p for p, g in zip(shared, grads, strict=True) if g is None]
        if above:
            w = combination.weights.to(stacked) if combination.direction is None \
                else torch.ones(len(active), dtype=stacked.dtype, device=stacked.device)
            (w.detach() * stacked[list(active)]).sum().backward(inputs=above,
                                                               retain_graph=True)


def _flat_grad(loss: torch.Tensor, targets: Sequence[torch.Tensor]) -> torch.Tensor:
    """``d loss / d targets`` as one flat float32 vector (unused targets give zeros)."""
    grads = torch.autograd.grad(loss, list(targets), retain_graph=True, allow_unused=True)
    return torch.cat([(torch.zeros_like(t) if g is None else g).reshape(-1).float()
                      for t, g in zip(targets, grads, strict=True)])


def project_simplex(vector: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of ``vector`` [K] onto the probability simplex (Duchi et al. ICML
    2008, the sort-based algorithm)."""
    sorted_desc, _ = torch.sort(vector, descending=True)
    cumulative = sorted_desc.cumsum(0) - 1.0
    index = torch.arange(1, vector.numel() + 1, dtype=vector.dtype, device=vector.device)
    rho = int((sorted_desc - cumulative / index > 0).nonzero().max())
    theta = cumulative[rho] / (rho + 1)
    return (vector - theta).clamp_min(0.0)


def psd_root(gram: torch.Tensor) -> torch.Tensor:
    """``R`` [K, K] with ``R^T R = gram`` for a symmetric PSD ``gram`` (negative eigenvalues
    from round-off are clipped to 0)."""
    values, vectors = torch.linalg.eigh(gram.double())
    return (vectors * values.clamp_min(0.0).sqrt()).T
