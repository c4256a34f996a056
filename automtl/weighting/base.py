"""The interface every loss-weighting strategy implements.

A strategy turns the per-task losses of one batch into one update: :meth:`Weighting.backward`
runs the backward pass (so gradient-surgery methods such as PCGrad and MGDA can do their own)
and returns the weight it gave each task. Everything a strategy needs arrives as arguments in a
:class:`WeightingContext` (LibMTL's ``backward(losses, **kwargs)``, made explicit), never from
attributes of the model. Strategies with learnable state (uncertainty's log-variances) expose it
through :meth:`Weighting.extra_parameters`, which the trainer's optimiser also trains; strategies
that adapt per epoch (DWA, DTP) use :meth:`Weighting.on_epoch_end`.

The base class is an ``nn.Module`` only so that ``weighting.to(device)`` moves its parameters
and buffers with the model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar, cast

import torch
from torch import nn

from automtl.weighting.params import WeightingParams


@dataclass(frozen=True)
class WeightingContext:
    """What a strategy may use besides the losses, for one batch.

    ``shared_parameters`` are ``model.shared_parameters()`` (PCGrad), ``last_shared_parameters``
    the last shared layer (GradNorm's W), ``task_parameters`` every other trainable model
    parameter, ``shared_representation`` the tensor from ``model.forward_shared`` (MGDA-UB; None
    when nothing is shared), ``epoch`` the 0-based epoch and ``labelled`` ``{task: rows}``: the
    number of labelled rows (of positive sample weight) each task has in this batch (None: every
    task has some; :meth:`Weighting.present` reads it). A task with 0 has a loss of exactly 0
    and no gradient; a strategy leaves it out (weight 0).
    """

    epoch: int = 0
    shared_parameters: Sequence[nn.Parameter] = ()
    last_shared_parameters: Sequence[nn.Parameter] = ()
    task_parameters: Sequence[nn.Parameter] = ()
    shared_representation: torch.Tensor | None = None
    labelled: Mapping[str, int] | None = None


P = TypeVar("P", bound=WeightingParams)


class Weighting(nn.Module, ABC, Generic[P]):
    """Base class of every strategy; subclasses register with ``@register_weighting``.

    A strategy subclasses ``Weighting[ItsParams]`` and sets ``Params = ItsParams``, so
    ``self.params`` is typed as its own parameter model.
    """

    weighting_name: ClassVar[str] = ""
    #: the pydantic model that validates ``WeightingConfig.params`` for this strategy
    Params: ClassVar[type[WeightingParams]] = WeightingParams

    def __init__(self, task_names: Sequence[str], params: P | None = None, *,
                 task_types: Mapping[str, str] | None = None, seed: int = 0) -> None:
        super().__init__()
        if not task_names:
            raise ValueError("a weighting needs at least one task")
        self.task_names: list[str] = list(task_names)
        self.params: P = params if params is not None else cast(P, self.Params())
        self.task_types: dict[str, str] | None = dict(task_types) if task_types else None
        self.seed = seed

    @property
    def num_tasks(self) -> int:
        return len(self.task_names)

    @abstractmethod
    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        """Backpropagate the combined losses (gradients accumulate into ``.grad``).

        Returns the weight used for each task.
        """

    def extra_parameters(self) -> list[nn.Parameter]:
        """Learnable parameters of the strategy that the model's optimiser should train."""
        return []

    def on_epoch_end(self, epoch: int, train_losses: Mapping[str, float],
                     valid_metrics: Mapping[str, Mapping[str, float]]) -> None:
        """Called after each epoch with the epoch-average (unweighted) training losses per task
        and the validation metrics ``{task: {metric: value}}``."""

    def manual_seed(self, seed: int) -> None:
        """Reseed any randomness the strategy uses (PCGrad's projection order)."""
        self.seed = seed

    def present(self, context: WeightingContext) -> list[bool]:
        """Per task (``task_names`` order): does the batch have a labelled row for it?

        Raises ``KeyError`` when ``context.labelled`` lacks a task.
        """
        if context.labelled is None:
            return [True] * self.num_tasks
        missing = [t for t in self.task_names if t not in context.labelled]
        if missing:
            raise KeyError(f"context.labelled lacks task(s) {missing}")
        return [int(context.labelled[t]) > 0 for t in self.task_names]

    def stacked(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The losses as one ``[num_tasks]`` tensor in ``task_names`` order."""
        missing = [t for t in self.task_names if t not in losses]
        if missing:
            raise KeyError(f"losses lack task(s) {missing}; got {sorted(losses)}")
        return torch.stack([losses[t] for t in self.task_names])

    def as_dict(self, weights: Sequence[float] | torch.Tensor) -> dict[str, float]:
        values = weights.detach().float().cpu().tolist() if isinstance(weights, torch.Tensor) \
            else [float(w) for w in weights]
        return dict(zip(self.task_names, values, strict=True))


def weighted_backward(weighting: Weighting, losses: Mapping[str, torch.Tensor],
                      weights: torch.Tensor | Sequence[float],
                      context: WeightingContext | None = None) -> dict[str, float]:
    """Backpropagate ``sum_k w_k L_k`` for fixed (non-differentiated) weights.

    With a ``context``, a task without labelled rows in the batch gets weight 0.
    """
    stacked = weighting.stacked(losses)
    w = torch.as_tensor(weights, dtype=stacked.dtype, device=stacked.device).detach()
    if context is not None:
        w = w * torch.tensor(weighting.present(context), dtype=w.dtype, device=w.device)
    (w * stacked).sum().backward()
    return weighting.as_dict(w)


def accumulate_grads(params: Sequence[nn.Parameter], grads: Sequence[torch.Tensor | None]) -> None:
    """Add ``grads`` into ``p.grad`` (as ``loss.backward()`` would), skipping ``None``."""
    for param, grad in zip(params, grads, strict=True):
        if grad is None:
            continue
        if param.grad is None:
            param.grad = grad.detach().clone()
        else:
            param.grad.add_(grad.detach())


def flat_grads(loss: torch.Tensor, params: Sequence[torch.Tensor],
               retain_graph: bool = True) -> torch.Tensor:
    """The gradient of ``loss`` w.r.t. ``params`` as one flat float32 vector (unused -> 0)."""
    grads = torch.autograd.grad(loss, list(params), retain_graph=retain_graph, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1).float()
                      for p, g in zip(params, grads, strict=True)])


def unflatten_like(vector: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Split a flat vector back into tensors shaped (and typed) like ``params``."""
    out, offset = [], 0
    for p in params:
        n = p.numel()
        out.append(vector[offset:offset + n].view_as(p).to(p.dtype))
        offset += n
    return out
