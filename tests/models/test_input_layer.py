"""The input layer's one embedding table (issue 16): every categorical column's table is a block
of rows of one ``nn.Embedding``, looked up once per batch. It gives what one ``nn.Embedding``
per column gave (values, gradients, the initial weights a seed draws) and still loads state
dicts written in that former layout (``inputs.embeddings.<c>.weight``)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from automtl.config import (
    ArchitectureConfig,
    CategoricalFeature,
    InputSchema,
    ModelConfig,
    NumericFeature,
    TaskSpec,
)
from automtl.models import build_model
from automtl.models.layers import InputLayer
from automtl.models.mmoe import MMoEParams

VOCABULARIES = [list("abc"), list("abcdefg"), ["x"], list("abcd")]  # cardinalities 4, 8, 2, 5
SCHEMA = InputSchema(
    numeric=[NumericFeature(name=f"x{i}") for i in range(3)],
    categorical=[CategoricalFeature(name=f"c{i}", vocabulary=v)
                 for i, v in enumerate(VOCABULARIES)])
TASKS = [TaskSpec(name="click"), TaskSpec(name="like")]


def former_tables(schema: InputSchema, dim: int) -> list[nn.Embedding]:
    """The former layout, built as it was: one nn.Embedding per column (its own N(0, 1)
    init), then every table re-drawn N(0, 0.01)."""
    tables = [nn.Embedding(f.cardinality, dim) for f in schema.categorical]
    for table in tables:
        nn.init.normal_(table.weight, mean=0.0, std=0.01)
    return tables


def former_forward(tables: list[nn.Embedding], numeric: torch.Tensor,
                   categorical: torch.Tensor) -> torch.Tensor:
    return torch.cat([numeric] + [t(categorical[:, c]) for c, t in enumerate(tables)], dim=1)


def random_batch(schema: InputSchema, rows: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
    numeric = torch.randn(rows, len(schema.numeric))
    categorical = torch.stack([torch.randint(0, f.cardinality, (rows,))
                               for f in schema.categorical], dim=1)
    return numeric, categorical


def test_a_seed_draws_the_former_per_column_weights_and_leaves_the_generator_alike() -> None:
    torch.manual_seed(3)
    layer = InputLayer(SCHEMA, 5)
    after_new = torch.rand(4)
    torch.manual_seed(3)
    tables = former_tables(SCHEMA, 5)
    after_old = torch.rand(4)
    assert layer.embeddings is not None
    assert layer.embeddings.weight.shape == (4 + 8 + 2 + 5, 5)
    for column, table in enumerate(tables):
        assert torch.equal(layer.column_table(column), table.weight)
    assert torch.equal(after_new, after_old)  # later parameters draw what they drew before


def test_one_lookup_gives_the_per_column_lookups_values_and_gradients() -> None:
    torch.manual_seed(0)
    layer = InputLayer(SCHEMA, 4)
    tables = [nn.Embedding.from_pretrained(layer.column_table(c).detach().clone(), freeze=False)
              for c in range(len(VOCABULARIES))]
    numeric, categorical = random_batch(SCHEMA)
    got, want = layer(numeric, categorical), former_forward(tables, numeric, categorical)
    assert got.shape == (9, 3 + 4 * 4) == (9, layer.output_dim)
    assert torch.equal(got, want)
    probe = torch.randn_like(want)
    (got * probe).sum().backward()
    (want * probe).sum().backward()
    assert layer.embeddings is not None and layer.embeddings.weight.grad is not None
    expected = torch.cat([t.weight.grad for t in tables], dim=0)  # type: ignore[misc]
    torch.testing.assert_close(layer.embeddings.weight.grad, expected, rtol=0, atol=1e-7)


def test_each_column_reads_its_own_block_even_for_equal_indices() -> None:
    layer = InputLayer(SCHEMA, 2)
    with torch.no_grad():
        for column in range(len(VOCABULARIES)):
            layer.column_table(column).fill_(float(column))  # a view: writes go through
    out = layer(torch.zeros(1, 3), torch.ones(1, 4, dtype=torch.long))
    assert out[0, 3:].tolist() == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]


def test_state_dicts_of_the_per_column_layout_load_into_the_one_table() -> None:
    torch.manual_seed(1)
    arch = ArchitectureConfig(topology="mmoe", tower_units=[4], embedding_dim=3,
                              params=MMoEParams(num_shared_experts=2, expert_units=[5]))
    model = build_model(ModelConfig.from_parts(arch, SCHEMA, TASKS)).eval()
    numeric, categorical = random_batch(SCHEMA)
    with torch.no_grad():
        expected = model(numeric, categorical)
    # written by the former layout: one key per column, the same values
    state = {k: v for k, v in model.state_dict().items() if k != "inputs.embeddings.weight"}
    for column in range(len(VOCABULARIES)):
        state[f"inputs.embeddings.{column}.weight"] = \
            model.inputs.column_table(column).detach().clone()
    torch.manual_seed(2)
    rebuilt = build_model(ModelConfig.from_parts(arch, SCHEMA, TASKS)).eval()
    assert not torch.equal(rebuilt.inputs.embeddings.weight, model.inputs.embeddings.weight)
    rebuilt.load_state_dict(state, strict=True)
    assert "inputs.embeddings.0.weight" in state  # the caller's dict is left as it was
    with torch.no_grad():
        got = rebuilt(numeric, categorical)
    for task in expected:
        assert torch.equal(got[task], expected[task])
    # and the current layout round-trips
    rebuilt.load_state_dict(model.state_dict(), strict=True)


def test_a_state_dict_missing_a_column_is_refused_under_strict_loading() -> None:
    layer = InputLayer(SCHEMA, 2)
    state = {f"embeddings.{c}.weight": torch.zeros(f.cardinality, 2)
             for c, f in enumerate(SCHEMA.categorical) if c != 2}
    with pytest.raises(RuntimeError, match="embeddings"):
        layer.load_state_dict(state, strict=True)


def test_numeric_only_and_categorical_only_inputs() -> None:
    numeric_only = InputLayer(InputSchema(numeric=SCHEMA.numeric), 4)
    x = torch.randn(5, 3)
    assert numeric_only(x, torch.zeros(5, 0, dtype=torch.long)) is x  # no copy
    assert numeric_only.embeddings is None and list(numeric_only.state_dict()) == []
    assert numeric_only.output_dim == 3
    with pytest.raises(IndexError, match="column: 0 is not one of 0 categorical"):
        numeric_only.column_table(0)
    categorical_only = InputLayer(InputSchema(categorical=SCHEMA.categorical), 4)
    _, codes = random_batch(SCHEMA, rows=5)
    out = categorical_only(torch.zeros(5, 0), codes)
    assert out.shape == (5, 16) and categorical_only.output_dim == 16
    tables = [categorical_only.column_table(c) for c in range(4)]
    assert torch.equal(out, torch.cat([t[codes[:, c]] for c, t in enumerate(tables)], dim=1))
