"""STAR (Sheng et al. CIKM 2021): the shared suite covers it (tests/models/test_model_zoo.py);
these check what makes it STAR: one domain is a plain network with batch normalisation, the
closed-form parameter count, per-domain normalisation and weights, the unknown-domain path."""

from __future__ import annotations

from typing import Any, cast

import pytest
import torch
from torch import nn

from automtl.config import (
    CategoricalFeature,
    DomainSpec,
    InputSchema,
    ModelConfig,
    NumericFeature,
    TaskSpec,
)
from automtl.models import build_model
from automtl.models.star import PartitionedNorm, Star, StarLinear

TASKS = [TaskSpec(name="click"), TaskSpec(name="watch_time", type="regression")]


def schema(values: list[str], vocabulary: list[str] | None = None) -> InputSchema:
    return InputSchema(
        numeric=[NumericFeature(name=f"x{i}") for i in range(5)],
        categorical=[CategoricalFeature(name="scene", vocabulary=vocabulary or values),
                     CategoricalFeature(name="device", vocabulary=["ios", "android"])],
        domain=DomainSpec(column="scene", values=values))


def make_star(inputs: InputSchema, seed: int = 0, **overrides: Any) -> Star:
    torch.manual_seed(seed)
    sizes: dict[str, Any] = dict(embedding_dim=3, tower_units=[4], star_units=[8, 6],
                                 aux_units=[5])
    sizes.update(overrides)
    return cast(Star, build_model(ModelConfig(topology="star", inputs=inputs, tasks=TASKS,
                                              **sizes)))


def batch(rows: int, domains: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    numeric = torch.randn(rows, 5, generator=gen)
    scene = torch.randint(1, domains + 1, (rows,), generator=gen)  # vocabulary indices
    device = torch.randint(0, 3, (rows,), generator=gen)
    return numeric, torch.stack([scene, device], dim=1)


def randomise_domain_parameters(model: nn.Module) -> None:
    """Move the per-domain weights off their initial 1 / 0, so equalities test something."""
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "domain_" in name or name.startswith("norm."):
                param.add_(0.3 * torch.randn(param.shape, generator=gen))


#: tiny models: one intra-op thread (more only add contention on shared cores), restored after
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_one_domain_is_a_plain_network_with_batch_normalisation() -> None:
    """With one domain, STAR is BatchNorm1d(scale γ·γ_1, bias β + β_1) on the input, then
    Linear(W ⊙ W_1, b + b_1) layers, the towers and the auxiliary logits: the same outputs in
    training (batch statistics) and, after that step, in evaluation (moving statistics)."""
    star = make_star(schema(["web"]))
    randomise_domain_parameters(star)
    norm = star.norm
    plain_norm = nn.BatchNorm1d(norm.weight.shape[0])
    linears = []
    with torch.no_grad():
        plain_norm.weight.copy_(norm.weight * norm.domain_weight[0])
        plain_norm.bias.copy_(norm.bias + norm.domain_bias[0])
        for layer in star.star:
            layer = cast(StarLinear, layer)
            linear = nn.Linear(*layer.weight.shape)
            linear.weight.copy_((layer.weight * layer.domain_weight[0]).T)
            linear.bias.copy_(layer.bias + layer.domain_bias[0])
            linears.append(linear)

    def plain(numeric: torch.Tensor, categorical: torch.Tensor) -> dict[str, torch.Tensor]:
        features = star.inputs(numeric, categorical)
        hidden = plain_norm(features)
        for linear in linears:
            hidden = torch.relu(linear(hidden))
        domain = torch.zeros(len(numeric), dtype=torch.long)  # the one domain
        aux = star.aux_output(star.aux(torch.cat([star.aux_embedding(domain), features], 1)))
        return {name: tower(hidden) + aux[:, i]
                for i, (name, tower) in enumerate(zip(star.heads.tower_tasks,
                                                      star.heads.towers, strict=True))}

    numeric, categorical = batch(64, domains=1)
    star.train(), plain_norm.train()
    got, expected = star(numeric, categorical), plain(numeric, categorical)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)
    running_mean = cast(torch.Tensor, norm.running_mean)
    running_var = cast(torch.Tensor, norm.running_var)
    torch.testing.assert_close(running_mean[0], plain_norm.running_mean)
    torch.testing.assert_close(running_var[0], plain_norm.running_var)
    star.eval(), plain_norm.eval()
    numeric, categorical = batch(32, domains=1, seed=1)
    with torch.no_grad():
        got, expected = star(numeric, categorical), plain(numeric, categorical)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("domains", [1, 3])
def test_parameter_count_closed_form(domains: int) -> None:
    """Embeddings; PN: 2·D0 shared + 2·K·D0 per domain; each star layer (in·out + out)(1 + K);
    aux: a (K + 1)-row domain embedding, an MLP over [E + D0] and one logit per tower; towers."""
    values = [f"s{k}" for k in range(domains)]
    emb, star_units, aux_units, towers = 3, [8, 6], [5], [4]
    model = make_star(schema(values), embedding_dim=emb, star_units=star_units,
                      aux_units=aux_units, tower_units=towers)
    cardinalities = [domains + 1, 3]
    features = 5 + 2 * emb
    expected = sum(cardinalities) * emb
    expected += 2 * features + 2 * domains * features
    in_dim = features
    for width in star_units:
        expected += (in_dim * width + width) * (1 + domains)
        in_dim = width
    expected += (domains + 1) * emb
    expected += (emb + features) * aux_units[0] + aux_units[0]
    expected += aux_units[0] * len(TASKS) + len(TASKS)
    expected += len(TASKS) * (in_dim * towers[0] + towers[0] + towers[0] + 1)
    assert model.num_parameters() == expected


def test_partitioned_norm_uses_each_domains_own_statistics() -> None:
    """Training: each domain's rows are standardised with that domain's batch statistics
    (mean 0, variance 1 per domain, although the domains' means differ); evaluation: with each
    domain's moving statistics, which differ between domains."""
    norm = PartitionedNorm(4, domains=2, momentum=1.0)  # moving stats = the last batch's
    gen = torch.Generator().manual_seed(0)
    domain = torch.tensor([0] * 50 + [1] * 30)
    inputs = torch.randn(80, 4, generator=gen) + torch.where(domain == 0, -3.0, 5.0)[:, None]
    out = norm(inputs, domain)
    for k in (0, 1):
        rows = out[domain == k]
        torch.testing.assert_close(rows.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
        torch.testing.assert_close(rows.var(0, unbiased=False), torch.ones(4), atol=1e-3,
                                   rtol=0)
    means = cast(torch.Tensor, norm.running_mean)
    torch.testing.assert_close(means[0], inputs[:50].mean(0))
    torch.testing.assert_close(means[1], inputs[50:].mean(0))
    torch.testing.assert_close(means[2], inputs.mean(0))  # pooled, for unknown domains
    norm.eval()
    again = norm(inputs, domain)
    torch.testing.assert_close(again[domain == 0].mean(0), torch.zeros(4), atol=1e-5, rtol=0)


def test_star_layer_multiplies_centre_and_domain_weights() -> None:
    layer = StarLinear(4, 3, domains=2)
    with torch.no_grad():
        layer.domain_weight.uniform_(0.5, 1.5)
        layer.domain_bias.uniform_(-1, 1)
    x = torch.randn(6, 4)
    domain = torch.tensor([0, 1, 2, 0, 1, 2])  # 2: outside the job's domains
    out = layer(x, domain)
    for row, k in enumerate(domain.tolist()):
        if k < 2:
            expected = x[row] @ (layer.weight * layer.domain_weight[k]) + \
                layer.bias + layer.domain_bias[k]
        else:  # the centre alone
            expected = x[row] @ layer.weight + layer.bias
        torch.testing.assert_close(out[row], expected)


def test_domains_map_from_the_vocabulary_and_unknown_values_share_the_centre() -> None:
    """Vocabulary order need not be domain order; a value outside the job's domains (here the
    vocabulary's ``zz`` and index 0) is domain K."""
    model = make_star(schema(["b", "a"], vocabulary=["a", "zz", "b"]))
    categorical = torch.tensor([[1, 0], [2, 0], [3, 0], [0, 0]])
    assert model.domain_of(categorical).tolist() == [1, 2, 0, 2]


def test_star_without_domains_is_refused() -> None:
    inputs = InputSchema(numeric=[NumericFeature(name="x0")])
    with pytest.raises(ValueError, match="domains"):
        build_model(ModelConfig(topology="star", inputs=inputs, tasks=TASKS))
