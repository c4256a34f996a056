"""The torch-free parameter table (:data:`automtl.weighting.params.BUILTIN_WEIGHTING_PARAMS`,
what validation reads) agrees with the strategy registry."""

from __future__ import annotations

from automtl.weighting import available_weightings, get_weighting
from automtl.weighting.params import BUILTIN_WEIGHTING_PARAMS, WEIGHTING_PARAMS


def test_the_table_names_every_strategy_with_its_params() -> None:
    assert sorted(BUILTIN_WEIGHTING_PARAMS) == available_weightings()
    for name in available_weightings():
        assert WEIGHTING_PARAMS.get(name) is get_weighting(name).Params \
            is BUILTIN_WEIGHTING_PARAMS[name]
