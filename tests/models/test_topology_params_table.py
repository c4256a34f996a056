"""The torch-free settings table (:data:`automtl.models.params.BUILTIN_TOPOLOGY_PARAMS`, what
validation reads) agrees with the model registry, and a model whose L0 penalty disagrees with
its settings' ``l0_penalty`` is refused when it registers."""

from __future__ import annotations

import pytest
import torch

from automtl.config import TOPOLOGY_PARAMS, TopologyParams
from automtl.models import MTLModel, available_topologies, get_topology, register_topology
from automtl.models.params import BUILTIN_TOPOLOGY_PARAMS, SNRParams


def test_the_table_names_every_model_with_its_settings() -> None:
    assert sorted(BUILTIN_TOPOLOGY_PARAMS) == available_topologies()
    for name in available_topologies():
        model = get_topology(name)
        assert TOPOLOGY_PARAMS.get(name) is model.Params is BUILTIN_TOPOLOGY_PARAMS[name]
        assert model.job_fields == model.Params.job_fields
        assert model.Params.l0_penalty == (model.l0_penalty is not MTLModel.l0_penalty)
    assert {n for n in available_topologies() if get_topology(n).Params.l0_penalty} == {
        "snr_avg", "snr_trans"}


def test_a_model_disagreeing_with_its_l0_flag_is_refused() -> None:
    class WithPenalty(MTLModel):
        def l0_penalty(self) -> torch.Tensor:
            return torch.zeros(())

    class WithoutPenalty(MTLModel):
        pass

    with pytest.raises(ValueError, match="l0_penalty is False but WithPenalty overrides"):
        register_topology("test_l0_mismatch", params=TopologyParams)(WithPenalty)
    with pytest.raises(ValueError, match="l0_penalty is True but WithoutPenalty does not"):
        register_topology("test_l0_mismatch", params=SNRParams)(WithoutPenalty)
    assert "test_l0_mismatch" not in available_topologies()
    assert "test_l0_mismatch" not in TOPOLOGY_PARAMS.names()
