"""STAR: the star topology for multi-domain data (Sheng et al., "One Model to Serve All: Star
Topology Adaptive Recommender for Multi-Domain CTR Prediction", CIKM 2021).

A shared centre network whose every linear layer's weights are multiplied element-wise by the
row's domain's own weights (``W_k* = W ⊙ W_k``, ``b_k* = b + b_k``), after a partitioned
normalisation (PN) of the input: batch statistics per domain in training, each domain's own
moving statistics at evaluation, and scale ``γ·γ_k`` and bias ``β + β_k``. An auxiliary network
reads the domain indicator (its own embedding) with the input features and adds one logit per
tower to the towers' outputs (``s_m + s_a`` in the paper).

Each row's domain is the categorical input named by the job's ``domains.column``
(:attr:`automtl.config.InputSchema.domain`), so the model's ``forward(numeric, categorical)``
stays the interface every topology has; the domain is also an ordinary embedded feature. A row
whose domain is not one of the job's values (new data) is served by the centre weights alone,
the shared PN scale and bias and the pooled moving statistics. PN is the star network's
normalisation: the common ``normalization`` setting applies to the towers only. Shapes: input
``[B, D0]``, star layers ``[B, star_units[i]]``, aux ``[B, towers]``; with K domains a star
layer costs K + 1 matrix products of the centre's size (one for every domain plus the centre
alone).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from automtl.config import ModelConfig
from automtl.models.layers import MLP, _uniform_fan_in, make_activation
from automtl.models.modular import ModularMTL, Representation
from automtl.models.params import StarParams
from automtl.models.registry import register_topology


class PartitionedNorm(nn.Module):
    """STAR's partitioned normalisation of ``[B, width]`` over ``domains`` partitions.

    Training: each row is normalised with its domain's batch mean and (biased) variance, or
    with the domain's moving statistics when the batch has fewer than 2 of its rows; every
    domain with 2+ rows updates its moving mean/(unbiased) variance with ``momentum``, as
    ``nn.BatchNorm1d`` does. Evaluation: each domain's moving statistics. Output
    ``(γ·γ_k)·x̂ + (β + β_k)``. Domain index ``domains`` (unknown) uses ``γ``, ``β`` and the
    pooled moving statistics of every row.
    """

    def __init__(self, width: int, domains: int, eps: float = 1e-5,
                 momentum: float = 0.1) -> None:
        super().__init__()
        self.domains, self.eps, self.momentum = domains, eps, momentum
        self.weight = nn.Parameter(torch.ones(width))  # γ
        self.bias = nn.Parameter(torch.zeros(width))  # β
        self.domain_weight = nn.Parameter(torch.ones(domains, width))  # γ_k
        self.domain_bias = nn.Parameter(torch.zeros(domains, width))  # β_k
        # slots 0..K-1: per domain; slot K: pooled over every row (for unknown domains)
        self.register_buffer("running_mean", torch.zeros(domains + 1, width))
        self.register_buffer("running_var", torch.ones(domains + 1, width))

    def forward(self, inputs: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        k = self.domains
        mean = cast(torch.Tensor, self.running_mean)
        var = cast(torch.Tensor, self.running_var)
        if self.training:
            ones = torch.ones_like(inputs[:, :1])
            count = torch.zeros(k + 1, 1, device=inputs.device, dtype=inputs.dtype)
            count = count.index_add(0, domain, ones)  # [K+1, 1]
            total = torch.zeros(k + 1, inputs.shape[1], device=inputs.device, dtype=inputs.dtype)
            sums = total.index_add(0, domain, inputs)
            squares = total.index_add(0, domain, inputs * inputs)
            # slot K: the pooled statistics of every row of the batch
            count = torch.cat([count[:k], count.sum(0, keepdim=True)])
            sums = torch.cat([sums[:k], sums.sum(0, keepdim=True)])
            squares = torch.cat([squares[:k], squares.sum(0, keepdim=True)])
            enough = count >= 2  # [K+1, 1]
            safe = count.clamp_min(1)
            batch_mean = sums / safe
            batch_var = (squares / safe - batch_mean * batch_mean).clamp_min(0)
            with torch.no_grad():
                unbiased = batch_var * safe / (safe - 1).clamp_min(1)
                m = self.momentum
                mean.copy_(torch.where(enough, (1 - m) * mean + m * batch_mean, mean))
                var.copy_(torch.where(enough, (1 - m) * var + m * unbiased, var))
            use_mean = torch.where(enough, batch_mean, mean)
            use_var = torch.where(enough, batch_var, var)
        else:
            use_mean, use_var = mean, var
        normalised = (inputs - use_mean[domain]) / torch.sqrt(use_var[domain] + self.eps)
        ones = torch.ones_like(self.weight).unsqueeze(0)
        scale = self.weight * torch.cat([self.domain_weight, ones])  # [K+1, width]
        shift = self.bias + torch.cat([self.domain_bias, torch.zeros_like(ones)])
        return normalised * scale[domain] + shift[domain]


class StarLinear(nn.Module):
    """A linear layer ``[B, in] -> [B, out]`` whose weights are the centre's times the row's
    domain's, element-wise: ``x (W ⊙ W_k) + (b + b_k)``; ``W_k`` start at 1 and ``b_k`` at 0,
    so every domain starts as the centre network. Domain index ``domains`` (unknown) uses the
    centre alone."""

    def __init__(self, in_dim: int, out_dim: int, domains: int) -> None:
        super().__init__()
        self.domains = domains
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(out_dim))
        _uniform_fan_in(self.weight, in_dim)  # nn.Linear's default initialisation
        _uniform_fan_in(self.bias, in_dim)
        self.domain_weight = nn.Parameter(torch.ones(domains, in_dim, out_dim))
        self.domain_bias = nn.Parameter(torch.zeros(domains, out_dim))

    def forward(self, inputs: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        weights = torch.cat([self.weight * self.domain_weight,
                             self.weight.unsqueeze(0)])  # [K+1, in, out]
        biases = torch.cat([self.bias + self.domain_bias, self.bias.unsqueeze(0)])  # [K+1, out]
        every = torch.einsum("bi,kio->bko", inputs, weights)  # [B, K+1, out]
        index = domain.view(-1, 1, 1).expand(-1, 1, every.shape[2])
        return every.gather(1, index).squeeze(1) + biases[domain]  # [B, out]


@register_topology("star", params=StarParams)
class Star(ModularMTL):
    """PN of the input, ``star_units`` star layers shared by every tower (their output is the
    shared representation), an auxiliary network adding one logit per tower; needs a job with
    ``domains`` (:attr:`StarParams.job_fields`: each row's domain comes from the job's
    ``domains``; a preset leaves star out without it)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        params = cast("StarParams", config.params)
        if config.inputs.domain is None:
            raise ValueError("star reads each row's domain: the job needs `domains: {column: "
                             "..., values: [...]}` (the input schema has no domain column)")
        # (read as plain attributes: the exported model.py gets the config as a namespace)
        domain = config.inputs.domain
        names = [feature.name for feature in config.inputs.categorical]
        self.domain_column = column = names.index(domain.column)
        vocabulary = list(config.inputs.categorical[column].vocabulary)
        count = len(domain.values)
        # vocabulary index of the domain column -> domain 0..K-1, or K (unknown)
        lookup = torch.full((len(vocabulary) + 1,), count, dtype=torch.long)
        for k, value in enumerate(domain.values):
            if value in vocabulary:
                lookup[vocabulary.index(value) + 1] = k
        self.register_buffer("domain_of_code", lookup)
        self.inputs = self.make_input()
        in_dim = self.inputs.output_dim
        self.norm = PartitionedNorm(in_dim, count)
        layers = []
        for width in params.star_units:
            layers.append(StarLinear(in_dim, width, count))
            in_dim = width
        self.star = nn.ModuleList(layers)
        self.activation = make_activation(config.activation)
        self.dropout = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        # the auxiliary network: the domain indicator's own embedding plus the features
        self.aux_embedding = nn.Embedding(count + 1, config.embedding_dim)
        self.aux = MLP(config.embedding_dim + self.inputs.output_dim, params.aux_units,
                       config.activation, config.dropout)
        self.aux_output = nn.Linear(self.aux.output_dim, self.num_towers)
        self.heads = self.make_heads(in_dim)

    def domain_of(self, categorical: torch.Tensor) -> torch.Tensor:
        """Each row's domain index ``[B]`` (K for a value outside the job's domains)."""
        lookup = cast(torch.Tensor, self.domain_of_code)
        return lookup[categorical[:, self.domain_column]]

    def _run(self, numeric: torch.Tensor, categorical: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        domain = self.domain_of(categorical)  # [B]
        features = self.inputs(numeric, categorical)  # [B, D0]
        hidden = self.norm(features, domain)  # [B, D0]
        for layer in self.star:
            hidden = self.dropout(self.activation(layer(hidden, domain)))  # [B, units[i]]
        aux_in = torch.cat([self.aux_embedding(domain), features], dim=1)  # [B, E + D0]
        return hidden, self.aux_output(self.aux(aux_in))  # [B, H], [B, towers]

    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        hidden, _ = self._run(numeric, categorical)
        return [hidden] * self.num_towers, hidden, []

    def forward_shared(
        self, numeric: torch.Tensor, categorical: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        hidden, aux = self._run(numeric, categorical)
        return self.heads([hidden] * self.num_towers, offsets=aux), hidden

    def shared_modules(self) -> list[nn.Module]:
        return [self.inputs, self.norm, self.star, self.aux_embedding, self.aux,
                self.aux_output]

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return list(self.star[-1].parameters())
