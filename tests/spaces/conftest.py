"""Shared fixtures: a small two-task dataset schema and a model builder that runs a forward."""

from __future__ import annotations

import pytest
import torch

from automtl.config import (
    CategoricalFeature,
    DomainSpec,
    InputSchema,
    NumericFeature,
    TaskSpec,
)


@pytest.fixture(scope="session")
def inputs() -> InputSchema:
    return InputSchema(
        numeric=[NumericFeature(name=f"x{i}") for i in range(5)],
        categorical=[CategoricalFeature(name="site", vocabulary=["a", "b", "c"]),
                     CategoricalFeature(name="device", vocabulary=["ios", "android"])],
        domain=DomainSpec(column="site", values=["a", "b", "c"]),  # read by star only
    )


@pytest.fixture(scope="session")
def tasks() -> list[TaskSpec]:
    return [TaskSpec(name="click", type="binary"), TaskSpec(name="watch", type="regression")]


@pytest.fixture(scope="session")
def batch(inputs: InputSchema) -> tuple[torch.Tensor, torch.Tensor]:
    """Eight rows: standardised numeric features and categorical indices (0 = OOV)."""
    generator = torch.Generator().manual_seed(0)
    numeric = torch.randn(8, len(inputs.numeric), generator=generator)
    cardinalities = [f.cardinality for f in inputs.categorical]
    categorical = torch.stack([torch.randint(0, c, (8,), generator=generator)
                               for c in cardinalities], dim=1)
    return numeric, categorical


@pytest.fixture
def one_torch_thread():
    """Tiny forwards with one intra-op thread: on a loaded 2-core machine the thread pool's
    wake-ups otherwise cost far more than the arithmetic."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
