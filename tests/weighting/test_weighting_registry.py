"""The weighting registry and the parameter validation every strategy shares."""

from __future__ import annotations

import pytest
import torch

from automtl.config import TaskSpec, WeightingConfig
from automtl.weighting import (
    Weighting,
    WeightingContext,
    available_weightings,
    build_weighting,
    get_weighting,
    register_weighting,
)

BUILT_IN = ["aligned_mtl", "cagrad", "db_mtl", "dtp", "dwa", "equal", "excess_mtl", "fairgrad",
            "famo", "fixed", "gls", "graddrop", "gradnorm", "gradvac", "imtl", "mgda", "moco",
            "modo", "nash_mtl", "pcgrad", "ple_decay", "rlw", "sdmgrad", "stch", "uncertainty",
            "upgrad"]


def test_every_built_in_strategy_is_registered() -> None:
    assert available_weightings() == BUILT_IN


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(KeyError) as info:
        build_weighting(WeightingConfig(name="gradnrom"), ["a", "b"])
    assert "gradnrom" in str(info.value)
    for name in BUILT_IN:
        assert name in str(info.value)


@pytest.mark.parametrize("name", BUILT_IN)
def test_unknown_param_is_rejected_by_name(name: str) -> None:
    params = {"weights": {"a": 1.0, "b": 1.0}} if name == "fixed" else {}
    params["not_a_param"] = 1
    with pytest.raises(ValueError, match=rf"weighting '{name}'.*params\.not_a_param"):
        build_weighting(WeightingConfig(name=name, params=params), ["a", "b"])


def test_bad_param_value_names_the_param() -> None:
    with pytest.raises(ValueError, match=r"params\.temperature"):
        build_weighting(WeightingConfig(name="dwa", params={"temperature": 0}), ["a", "b"])
    with pytest.raises(ValueError, match=r"params\.normalization"):
        build_weighting(WeightingConfig(name="mgda", params={"normalization": "max"}), ["a"])


def test_build_from_task_specs_keeps_types_and_seed() -> None:
    tasks = [TaskSpec(name="ctr"), TaskSpec(name="watch", type="regression")]
    weighting = build_weighting(WeightingConfig(name="equal"), tasks, seed=7)
    assert weighting.task_names == ["ctr", "watch"]
    assert weighting.task_types == {"ctr": "binary", "watch": "regression"}
    assert weighting.seed == 7


def test_registering_upper_case_or_a_second_class_under_a_name_fails() -> None:
    with pytest.raises(ValueError, match="lowercase"):
        register_weighting("Equal")

    class Other(Weighting):
        def backward(self, losses: dict[str, torch.Tensor],
                     context: WeightingContext) -> dict[str, float]:
            return {}

    with pytest.raises(ValueError, match="already registered"):
        register_weighting("equal")(Other)
    assert get_weighting("equal") is not Other


def test_losses_must_cover_every_task() -> None:
    weighting = build_weighting(WeightingConfig(name="equal"), ["a", "b"])
    param = torch.nn.Parameter(torch.ones(1))
    with pytest.raises(KeyError, match="'b'"):
        weighting.backward({"a": param.sum()}, WeightingContext())


def test_labelled_counts_must_name_every_task() -> None:
    weighting = build_weighting(WeightingConfig(name="equal"), ["a", "b"])
    param = torch.nn.Parameter(torch.ones(1))
    with pytest.raises(KeyError, match=r"context.labelled lacks task\(s\) \['b'\]"):
        weighting.backward({"a": param.sum(), "b": param.sum()},
                           WeightingContext(labelled={"a": 3}))
