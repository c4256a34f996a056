"""Sub-network routing (SNR, Ma et al. AAAI 2019): ``snr.layers`` layers of ``snr.subnetworks``
sub-networks (each an MLP of ``expert_units``) wired by hard-concrete binary codes z.

The first layer reads the input features; every later sub-network reads the z-gated
combination of the previous layer's outputs, and each task's tower reads its own z-gated
combination of the last layer. ``snr_trans`` gives every connection a transformation matrix,
``snr_avg`` sums the gated outputs directly. :meth:`l0_penalty` is the expected number of open
connections, which the trainer adds with weight ``l0_lambda``.
"""

from __future__ import annotations

from typing import ClassVar, cast

import torch
from pydantic import Field
from torch import nn

from automtl.config import ModelConfig
from automtl.models.hard_concrete import GatedConnection
from automtl.models.layers import Experts
from automtl.models.modular import ModularMTL, Representation
from automtl.models.params import ExpertParams
from automtl.models.registry import register_topology


class SNRParams(ExpertParams):
    """SNR's settings (Ma et al. AAAI 2019): ``layers`` layers of ``subnetworks`` sub-networks of
    ``expert_units``, and the hard-concrete distribution's beta, gamma, zeta (Louizos et al.
    ICLR 2018). The previous format's nested ``snr: {...}`` is read too (converted)."""

    layers: int = Field(2, ge=1, le=6, description="layers of sub-networks")
    subnetworks: int = Field(3, ge=1, le=32, description="sub-networks per layer")
    beta: float = Field(2 / 3, gt=0.0, description="hard-concrete temperature beta")
    gamma: float = Field(-0.1, lt=0.0, description="hard-concrete stretch lower end gamma")
    zeta: float = Field(1.1, gt=1.0, description="hard-concrete stretch upper end zeta")

    def summary(self) -> dict[str, str]:
        return {"experts": f"{self.layers} layers x {self.subnetworks} sub-networks",
                "units": f"sub-networks {self.expert_units}", "gate": ""}


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
                              config.dropout)
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

    def l0_penalty(self) -> torch.Tensor:
        routes = [cast(GatedConnection, r) for r in [*self.connections, *self.task_routes]]
        return torch.stack([route.gates.expected_l0() for route in routes]).sum()

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
