"""Sub-network routing (SNR, Ma et al. AAAI 2019): ``layers`` layers of ``subnetworks``
sub-networks (each an MLP of ``expert_units``) wired by hard-concrete binary codes z.

The first layer reads the input features; every later sub-network reads the z-gated
combination of the previous layer's outputs, and each task's tower reads its own z-gated
combination of the last layer. ``snr_trans`` gives every connection a transformation matrix,
``snr_avg`` sums the gated outputs directly.

:meth:`l0_penalty` is the expected SHARE of open connections (the expected L0 norm divided by
the number of gates), which the trainer adds with weight ``l0_lambda``: lambda is then in
loss units per "every connection open" whatever the network's size, so one searched range
fits every size (a count grows with layers x sub-networks^2 and made lambda size-dependent).
The gates' ``log_alpha`` get their own learning rate ``params.gate_lr`` (:meth:`gate_parameters`).
After training, :meth:`sparsity` is the share of connections whose evaluation gate is exactly 0
and :meth:`effective_parameters` the parameters that still reach a prediction.
"""

from __future__ import annotations

from typing import ClassVar, cast

import torch
from torch import nn

from automtl.config import ModelConfig
from automtl.models.hard_concrete import GatedConnection
from automtl.models.layers import Experts
from automtl.models.modular import ModularMTL, Representation
from automtl.models.params import SNRParams
from automtl.models.registry import register_topology


class SubNetworkRouting(ModularMTL):
    """The SNR network; subclasses choose ``transform``."""

    transform: ClassVar[bool] = True

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        snr = cast("SNRParams", config.params)
        count = snr.subnetworks
        self.inputs = self.make_input()
        in_dim = self.inputs.output_dim
        self.subnetworks = nn.ModuleList()
        self.connections = nn.ModuleList()
        for layer in range(snr.layers):
            if layer > 0:
                self.connections.append(
                    GatedConnection(count, count, in_dim, self.transform, snr))
            experts = Experts(count, in_dim, snr.expert_units, config.activation,
                              config.dropout, config.normalization)
            self.subnetworks.append(experts)
            in_dim = experts.output_dim
        self.task_routes = nn.ModuleList(
            GatedConnection(count, 1, in_dim, self.transform, snr)
            for _ in range(self.num_towers))
        self.heads = self.make_heads(in_dim)

    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        hidden = self.subnetworks[0](self.inputs(numeric, categorical))
        for connection, subnetworks in zip(self.connections, self.subnetworks[1:], strict=True):
            hidden = subnetworks(connection(hidden))
        return [route(hidden).squeeze(1) for route in self.task_routes], hidden, []

    def gate_weights(self, numeric: torch.Tensor,
                     categorical: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}  # z codes are not softmax weights; see l0_penalty / the routes' gates

    def _routes(self) -> list[GatedConnection]:
        return [cast(GatedConnection, r) for r in [*self.connections, *self.task_routes]]

    def l0_penalty(self) -> torch.Tensor:
        """Expected share of open connections, in [0, 1] (differentiable)."""
        probabilities = [r.gates.open_probability().reshape(-1) for r in self._routes()]
        return torch.cat(probabilities).mean()

    def gate_parameters(self) -> list[nn.Parameter]:
        return [r.gates.log_alpha for r in self._routes()]

    def gate_lr(self) -> float | None:
        return cast("SNRParams", self.config.params).gate_lr

    def l0_warmup_epochs(self) -> float:
        return cast("SNRParams", self.config.params).l0_warmup_epochs

    @torch.no_grad()
    def sparsity(self) -> float:
        """Share of connections (z codes) that are exactly 0 at evaluation, in [0, 1]."""
        closed = [r.gates.closed().reshape(-1) for r in self._routes()]
        return float(torch.cat(closed).float().mean().item())

    @torch.no_grad()
    def effective_parameters(self) -> int:
        """Trainable parameters minus those no prediction depends on at evaluation: the
        transformation matrices of closed connections, the sub-networks whose every outgoing
        connection is closed, and the gates' log_alpha themselves (folded into the weights)."""
        total = self.num_parameters()
        pruned = sum(r.pruned_parameters() for r in self._routes())
        pruned += sum(p.numel() for p in self.gate_parameters())
        outgoing = [*[cast(GatedConnection, c) for c in self.connections], None]
        for layer, subnetworks in enumerate(self.subnetworks):
            experts = cast(Experts, subnetworks)
            if outgoing[layer] is not None:
                closed = outgoing[layer].gates.closed()  # type: ignore[union-attr]
            else:
                closed = torch.cat([cast(GatedConnection, r).gates.closed()
                                    for r in self.task_routes], dim=1)
            dead = int(closed.all(dim=1).sum().item())
            pruned += dead * experts.parameters_per_expert()
        return total - pruned

    def shared_modules(self) -> list[nn.Module]:
        return [self.inputs, self.subnetworks, self.connections]

    def task_modules(self, index: int) -> list[nn.Module]:
        return [self.task_routes[index]]

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return cast(Experts, self.subnetworks[-1]).last_layer_parameters()


@register_topology("snr_trans", params=SNRParams)
class SNRTrans(SubNetworkRouting):
    """SNR-Trans: each connection ``i -> j`` is ``z_ij W_ij``."""

    transform = True


@register_topology("snr_avg", params=SNRParams)
class SNRAverage(SubNetworkRouting):
    """SNR-Aver: a sub-network's input is the z-weighted sum of the previous outputs."""

    transform = False
