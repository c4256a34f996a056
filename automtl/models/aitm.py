"""Adaptive information transfer multi-task (AITM, Xi et al. KDD 2021, "Modeling the Sequential
Dependence among Audience Multi-step Conversions with Multi-task Learning in Targeted Display
Advertising").

The job's ``sequence`` names the conversion steps in order (impression -> click -> purchase:
``sequence: [click, purchase]``). Every tower task has its own column, an MLP of
``bottom_units`` over the shared input layer (the paper's task towers; all columns are one
batched :class:`Experts`), giving ``q_t`` ``[B, D]``. Along the sequence, the first step's
representation is its own column, ``z_1 = q_1``; each later step ``t`` receives the previous
step's representation through a transfer layer ``p_{t-1} = g_t(z_{t-1})`` (one hidden layer of
width D) and mixes it with its own column by the attention-based information transfer (AIT)
module, ``z_t = sum_{u in (p_{t-1}, q_t)} w_u h_1(u)`` with ``w = softmax(<h_2(u), h_3(u)> /
sqrt(D))`` over the two inputs (:class:`InformationTransfer`). ``z_t`` feeds task t's tower
(the common ``tower_units``), whose logit is the prediction.

Tasks outside the sequence (e.g. a regression target beside the funnel) keep a plain column on
the shared input and their own tower: nothing is transferred to or from them. ESMM product
tasks (``product_of``) work as with every topology.

The behavioural expectation calibrator penalises a later step predicted more likely than the
one before it: ``L_lc = mean_rows sum_{t>=2} max(p_t - p_{t-1}, 0)`` on the probabilities
(:meth:`AITM.calibration_penalty`); the trainer adds ``calibrator_weight * L_lc`` to the
weighted task losses (:meth:`AITM.output_penalty`). The paper uses weight 0.6.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

from automtl.config import ModelConfig
from automtl.models.layers import MLP, Experts
from automtl.models.modular import ModularMTL, Representation
from automtl.models.params import AITMParams
from automtl.models.registry import register_topology


class InformationTransfer(nn.Module):
    """The AIT module (Xi et al. KDD 2021, eq. 3-5): self-attention over the transferred
    information and the step's own representation, ``[B, 2, D] -> [B, D]``.

    ``h_1, h_2, h_3`` (values, queries, keys) are bias-free ``D x D`` linear maps (the authors'
    code); the attention weight of each input is a softmax over the two inputs of
    ``<h_2(u), h_3(u)> / sqrt(D)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.values = nn.Linear(dim, dim, bias=False)
        self.queries = nn.Linear(dim, dim, bias=False)
        self.keys = nn.Linear(dim, dim, bias=False)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        scores = (self.queries(inputs) * self.keys(inputs)).sum(-1) * self.scale  # [B, 2]
        weights = torch.softmax(scores, dim=1)                                    # [B, 2]
        return (weights.unsqueeze(-1) * self.values(inputs)).sum(1)                # [B, D]


@register_topology("aitm", params=AITMParams)
class AITM(ModularMTL):
    """Per-task columns; along the job's ``sequence`` each step's column is mixed with the
    previous step's transferred representation by an AIT module; the calibrator penalty. Needs a
    job with ``sequence`` (:attr:`AITMParams.job_fields`)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        params = cast("AITMParams", config.params)
        if not config.sequence:
            raise ValueError("aitm needs the job's sequence (the conversion steps in order, "
                             "e.g. sequence: [click, purchase])")
        self.sequence: list[str] = list(config.sequence)
        self.calibrator_weight = params.calibrator_weight
        tower_index = {name: i for i, name in enumerate(self.tower_tasks)}
        #: tower indices of the sequence steps, in conversion order
        self.steps: list[int] = [tower_index[name] for name in self.sequence]
        self.inputs = self.make_input()
        self.columns = Experts(self.num_towers, self.inputs.output_dim, params.bottom_units,
                               config.activation, config.dropout, config.normalization)
        dim = self.columns.output_dim
        # one transfer layer g_t and one AIT module per step after the first
        self.transfers = nn.ModuleList(MLP(dim, [dim], config.activation, config.dropout)
                                       for _ in self.steps[1:])
        self.attentions = nn.ModuleList(InformationTransfer(dim) for _ in self.steps[1:])
        self.heads = self.make_heads(dim)

    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        columns = self.columns(self.inputs(numeric, categorical))        # [B, T, D]
        representations = list(columns.unbind(1))                        # q_t, each [B, D]
        previous = representations[self.steps[0]]                        # z_1 = q_1
        for transfer, attention, step in zip(self.transfers, self.attentions, self.steps[1:],
                                             strict=True):
            transferred = transfer(previous)                              # p_{t-1} [B, D]
            previous = attention(torch.stack([transferred, representations[step]], dim=1))
            representations[step] = previous                              # z_t [B, D]
        return representations, columns, []

    def calibration_penalty(self, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The behavioural expectation calibrator's ``L_lc`` (unweighted): the mean over rows
        of ``sum_t max(sigmoid(logit_t) - sigmoid(logit_{t-1}), 0)`` along the sequence; 0 when
        every step is at most as likely as the one before. ``outputs`` are the logits ``[B]``
        by task name; returns a scalar float32 tensor."""
        probabilities = [torch.sigmoid(outputs[name].float()) for name in self.sequence]
        excess = [torch.relu(later - earlier)
                  for earlier, later in zip(probabilities, probabilities[1:], strict=False)]
        return torch.stack(excess, dim=0).sum(dim=0).mean()

    def output_penalty(self, outputs: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if self.calibrator_weight == 0:
            return None
        return self.calibrator_weight * self.calibration_penalty(outputs)

    def _shared_steps(self) -> list[int]:
        """Positions (in the sequence, from 1) of the transfer/AIT pairs that feed a later
        step too, so every step after them reaches them."""
        return list(range(len(self.steps) - 2))

    def shared_modules(self) -> list[nn.Module]:
        # the columns are one batched tensor every task reads its slice of
        modules: list[nn.Module] = [self.inputs, self.columns]
        for position in self._shared_steps():
            modules += [self.transfers[position], self.attentions[position]]
        return modules

    def task_modules(self, index: int) -> list[nn.Module]:
        if len(self.steps) >= 2 and index == self.steps[-1]:
            return [self.transfers[-1], self.attentions[-1]]
        return []

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return self.columns.last_layer_parameters()
