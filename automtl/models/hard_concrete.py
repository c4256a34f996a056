"""Hard-concrete gates (Louizos, Welling & Kingma, "Learning Sparse Neural Networks through L0
Regularization", ICLR 2018), the relaxed binary codes z of SNR.

Training samples ``u ~ U(0, 1)`` per example and gate,
``s = sigmoid((log u - log(1 - u) + log_alpha) / beta)``, ``z = clip(s (zeta - gamma) + gamma,
0, 1)``; evaluation uses the deterministic estimator ``clip(sigmoid(log_alpha) (zeta - gamma)
+ gamma, 0, 1)``. The expected L0 norm ``sum sigmoid(log_alpha - beta log(-gamma / zeta))`` is
differentiable in ``log_alpha``.

``log_alpha`` starts at ``log((1 - p) / p)`` for the configured initial drop rate ``p``
(``SNRParams.init_drop_rate``, Louizos et al.'s ``droprate_init``; 0.5 puts it at 0), small
noise added. An evaluation gate is exactly 0 once ``sigmoid(log_alpha) <= -gamma / (zeta -
gamma)``, i.e. ``log_alpha <= -2.398`` for the defaults; from an initial drop rate of 0.1
(``log_alpha = 2.197``) a gate had to travel 4.6, which Adam at ``lr`` 1e-3 never did within a
few epochs, so nothing was ever pruned.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # a type only: the exported model.py needs no settings class
    from automtl.models.params import SNRParams

_EPS = 1e-6
#: standard deviation of the noise around the initial log_alpha (Louizos et al. use 1e-2)
INIT_NOISE = 1e-2


class HardConcreteGates(nn.Module):
    """A ``[num_inputs, num_outputs]`` matrix of gates with learnable ``log_alpha``."""

    def __init__(self, num_inputs: int, num_outputs: int, snr: SNRParams) -> None:
        super().__init__()
        self.beta, self.gamma, self.zeta = float(snr.beta), float(snr.gamma), float(snr.zeta)
        rate = float(snr.init_drop_rate)
        mean = math.log(1 - rate) - math.log(rate)
        self.log_alpha = nn.Parameter(
            torch.empty(num_inputs, num_outputs).normal_(mean, INIT_NOISE))

    def forward(self, like: torch.Tensor) -> torch.Tensor:
        """Gate values ``[B, num_inputs, num_outputs]`` for the batch ``like`` belongs to."""
        batch = like.shape[0]
        if self.training:
            u = torch.rand((batch,) + tuple(self.log_alpha.shape), device=self.log_alpha.device,
                           dtype=self.log_alpha.dtype).clamp(_EPS, 1 - _EPS)
            s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + self.log_alpha) / self.beta)
        else:
            s = torch.sigmoid(self.log_alpha).unsqueeze(0).expand(batch, -1, -1)
        return (s * (self.zeta - self.gamma) + self.gamma).clamp(0.0, 1.0)

    def deterministic(self) -> torch.Tensor:
        """The evaluation-time gates ``[num_inputs, num_outputs]``."""
        s = torch.sigmoid(self.log_alpha)
        return (s * (self.zeta - self.gamma) + self.gamma).clamp(0.0, 1.0)

    def open_probability(self) -> torch.Tensor:
        """``P(z != 0)`` per gate, ``[num_inputs, num_outputs]`` (differentiable in
        ``log_alpha``); its sum is the expected L0 norm."""
        shift = self.beta * math.log(-self.gamma / self.zeta)
        return torch.sigmoid(self.log_alpha - shift)

    def expected_l0(self) -> torch.Tensor:
        """Expected number of non-zero gates (differentiable in ``log_alpha``)."""
        return self.open_probability().sum()

    def closed(self) -> torch.Tensor:
        """``[num_inputs, num_outputs]`` bool: the gates that are exactly 0 at evaluation."""
        return self.deterministic() == 0


class GatedConnection(nn.Module):
    """Routes ``num_inputs`` sub-network outputs ``[B, M, D]`` to ``num_outputs`` targets.

    SNR-Trans (``transform=True``): ``out_j = sum_i z_ij W_ij h_i`` with a ``D x D`` matrix per
    connection; SNR-Aver: ``out_j = sum_i z_ij h_i``. Returns ``[B, num_outputs, D]``.
    """

    def __init__(self, num_inputs: int, num_outputs: int, dim: int, transform: bool,
                 snr: SNRParams) -> None:
        super().__init__()
        self.gates = HardConcreteGates(num_inputs, num_outputs, snr)
        self.weight: nn.Parameter | None = None
        if transform:
            bound = 1.0 / math.sqrt(dim)
            self.weight = nn.Parameter(
                torch.empty(num_inputs, num_outputs, dim, dim).uniform_(-bound, bound))

    def pruned_parameters(self) -> int:
        """Transformation weights of the closed connections (0 for SNR-Aver)."""
        if self.weight is None:
            return 0
        dim = self.weight.shape[-1]
        return int(self.gates.closed().sum().item()) * dim * dim

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.training:  # one z sample per example and connection
            z = self.gates(hidden)
            if self.weight is None:
                return torch.einsum("bij,bid->bjd", z, hidden)
            return torch.einsum("bijd,ijde->bje", hidden.unsqueeze(2) * z.unsqueeze(-1),
                                self.weight)
        z = self.gates.deterministic()  # the same for every row: fold it into the weights
        if self.weight is None:
            return torch.einsum("ij,bid->bjd", z, hidden)
        return torch.einsum("bid,ijde->bje", hidden, self.weight * z[:, :, None, None])
