"""DSelect-k (Hazimeh et al., "DSelect-k: Differentiable Selection in the Mixture of Experts
with Applications to Multi-Task Learning", NeurIPS 2021): MMoE whose per-task gates select at
most k of the n shared experts, differentiably.

Each task's gate has k single-expert selectors. Selector i reads the input ``x`` ``[B, D0]``
and outputs m = ceil(log2 n) logits ``z_i = W_i x + b_i``; the smooth-step ``S`` (0 below
-gamma/2, 1 above gamma/2, the cubic ``-2 z^3 / gamma^3 + 3 z / (2 gamma) + 1/2`` between)
turns them into a relaxed binary code, and the selector's weight on expert j is
``q_ij = prod_b (S(z_ib) if bit b of j is 1 else 1 - S(z_ib))`` ``[B, n]``. A softmax over
k selector logits ``[B, k]`` mixes the selectors; the task's expert weights are
``a = sum_i softmax(w)_i q_i`` ``[B, n]`` and its tower reads ``sum_j a_j E_j(x)`` ``[B, D]``.
Once every smooth-step output is exactly 0 or 1 (the smooth-step reaches them in finite
steps, unlike a sigmoid), each selector puts all its weight on one expert, so at most k
experts (exactly k when the selectors pick different ones) get non-zero weight: that is how
the gate is k-sparse at evaluation. The paper's entropy regulariser on the selectors,
``entropy_reg * mean_rows sum_i H(q_i)`` (nats), drives the codes to binary sooner; it and
the paper's term for a non-power-of-2 n (``1/sum_j q_ij - 1`` per row, pushing each
selector's weight off the codes that name no expert) are the model's :meth:`penalty`.
Deviation, documented: for n not a power of 2, ``q_i`` is divided by its mass on real experts
(at least 1e-6), so the weights always sum to 1; with the paper's term driving that mass to 1
it is the paper's gate. ``k`` above n is capped at n. Selector logits start in
U(-gamma/100, gamma/100) as in the authors' code, so training starts in the smooth region.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

from automtl.config import ModelConfig, TrainConfig
from automtl.models.layers import Experts, mix_gates
from automtl.models.modular import ModularMTL, Representation
from automtl.models.params import DSelectKParams
from automtl.models.registry import register_topology

#: numerical floor inside log and below the mass on real experts
_EPS = 1e-6


def smooth_step(z: torch.Tensor, gamma: float) -> torch.Tensor:
    """The cubic smooth-step (Hazimeh et al. 2020): 0 for ``z <= -gamma/2``, 1 for
    ``z >= gamma/2``, continuously differentiable; same shape as ``z``."""
    cubic = -2.0 / gamma ** 3 * z ** 3 + 3.0 / (2.0 * gamma) * z + 0.5
    return torch.where(z <= -gamma / 2, torch.zeros_like(z),
                       torch.where(z >= gamma / 2, torch.ones_like(z), cubic))


def binary_codes(num_experts: int) -> torch.Tensor:
    """``[n, m]`` float: row j is the m-bit binary code of j, most significant bit first."""
    bits = max(1, math.ceil(math.log2(num_experts))) if num_experts > 1 else 0
    rows = [[float((j >> (bits - 1 - b)) & 1) for b in range(bits)]
            for j in range(num_experts)]
    return torch.tensor(rows, dtype=torch.float32).reshape(num_experts, bits)


class DSelectGate(nn.Module):
    """A per-example DSelect-k gate over ``num_experts`` experts with ``k`` selectors.

    ``forward(x [B, in])`` returns ``(weights [B, n], selectors [B, k, n])``; the weights are
    non-negative and sum to 1. One expert, or k = 1, needs fewer parts: one expert has no
    gate parameters (its weight is 1), k = 1 has no selector mixture.
    """

    def __init__(self, in_dim: int, num_experts: int, k: int, gamma: float) -> None:
        super().__init__()
        self.num_experts = num_experts
        self.k = min(k, num_experts)
        self.gamma = float(gamma)
        codes = binary_codes(num_experts)
        self.register_buffer("codes", codes, persistent=False)  # [n, m], rebuilt, not saved
        self.bits = int(codes.shape[1])
        self.power_of_two = num_experts == 2 ** self.bits
        self.selectors: nn.Linear | None = None
        self.selector_mix: nn.Linear | None = None
        if num_experts > 1:
            self.selectors = nn.Linear(in_dim, self.k * self.bits)
            nn.init.uniform_(self.selectors.weight, -self.gamma / 100, self.gamma / 100)
            nn.init.uniform_(self.selectors.bias, -self.gamma / 100, self.gamma / 100)
            if self.k > 1:
                self.selector_mix = nn.Linear(in_dim, self.k)  # Keras' default U(-.05, .05)
                nn.init.uniform_(self.selector_mix.weight, -0.05, 0.05)
                nn.init.uniform_(self.selector_mix.bias, -0.05, 0.05)

    def raw_selectors(self, inputs: torch.Tensor) -> torch.Tensor:
        """``[B, k, n]``: each selector's weight on each expert before renormalisation (the
        product over the m bits of ``S(z)`` or ``1 - S(z)`` as the expert's code says)."""
        assert self.selectors is not None, "one expert needs no selectors"
        z = self.selectors(inputs).view(inputs.shape[0], self.k, 1, self.bits)   # [B, k, 1, m]
        s = smooth_step(z, self.gamma)
        codes = cast(torch.Tensor, self.codes).to(s.dtype)                       # [n, m]
        return (codes * s + (1 - codes) * (1 - s)).prod(dim=-1)                  # [B, k, n]

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.selectors is None:
            ones = inputs.new_ones(inputs.shape[0], 1)
            return ones, ones.unsqueeze(1)
        selectors = self.raw_selectors(inputs)                                   # [B, k, n]
        if not self.power_of_two:  # renormalise onto the codes that name an expert
            selectors = selectors / selectors.sum(dim=-1, keepdim=True).clamp_min(_EPS)
        if self.selector_mix is None:
            return selectors[:, 0], selectors
        mixture = torch.softmax(self.selector_mix(inputs), dim=-1)               # [B, k]
        return torch.einsum("bk,bkn->bn", mixture, selectors), selectors

    def regulariser(self, inputs: torch.Tensor, entropy_reg: float) -> torch.Tensor:
        """The paper's terms for a batch, before renormalisation: ``entropy_reg`` times the
        mean over rows of the selectors' summed entropy, plus (n not a power of 2) the mean
        over rows and selectors of ``1 / mass on real experts - 1``; a scalar."""
        if self.selectors is None:
            return inputs.new_zeros(())
        selectors = self.raw_selectors(inputs)                                   # [B, k, n]
        mass = selectors.sum(dim=-1)                                             # [B, k]
        total = inputs.new_zeros(())
        if entropy_reg > 0:
            q = selectors / mass.clamp_min(_EPS).unsqueeze(-1)
            total = total + entropy_reg * (-(q * torch.log(q + _EPS)).sum(dim=(1, 2)).mean())
        if not self.power_of_two:
            total = total + (1.0 / mass.clamp_min(_EPS) - 1.0).mean()
        return total


@register_topology("dselect_k", params=DSelectKParams)
class DSelectK(ModularMTL):
    """``num_shared_experts`` experts of ``expert_units``; a DSelect-k gate per task."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        params = cast("DSelectKParams", config.params)
        self.inputs = self.make_input()
        in_dim = self.inputs.output_dim
        self.experts = Experts(params.num_shared_experts, in_dim, params.expert_units,
                               config.activation, config.dropout, config.normalization)
        self.gates = nn.ModuleList(
            DSelectGate(in_dim, params.num_shared_experts, params.k, params.gamma)
            for _ in range(self.num_towers))
        self.heads = self.make_heads(self.experts.output_dim)
        #: the latest training forward's input features, for :meth:`penalty`
        self._features: torch.Tensor | None = None

    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        features = self.inputs(numeric, categorical)                            # [B, D0]
        experts = self.experts(features)                                        # [B, n, D]
        weights = [gate(features)[0] for gate in self.gates]                   # each [B, n]
        if self.training:
            self._features = features
        return mix_gates(weights, experts), experts, weights

    def penalty(self, train: TrainConfig) -> torch.Tensor | None:
        """The selectors' regulariser on the latest training batch (see the module doc);
        ``None`` when there is nothing to regularise or no training forward was run."""
        params = cast("DSelectKParams", self.config.params)
        features, self._features = self._features, None
        gates = [cast(DSelectGate, gate) for gate in self.gates]
        needed = params.entropy_reg > 0 or not gates[0].power_of_two
        if features is None or not needed or gates[0].selectors is None:
            return None
        return torch.stack([gate.regulariser(features, params.entropy_reg)
                            for gate in gates]).sum()

    def shared_modules(self) -> list[nn.Module]:
        return [self.inputs, self.experts]

    def task_modules(self, index: int) -> list[nn.Module]:
        return [self.gates[index]]

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return self.experts.last_layer_parameters()
