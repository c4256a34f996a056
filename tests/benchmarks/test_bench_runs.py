"""benchmarks.runs: the sizes every tool builds are automtl's per-topology settings (issue 13),
and one tiny timed run of each model trains and reports what the peer table reads."""

from __future__ import annotations

import math

import pytest
import torch

from automtl.config import LEGACY_TOPOLOGY_FIELDS
from automtl.models.params import MMoEParams, PLEParams
from benchmarks.common import synthetic_dense
from benchmarks.runs import ModelSizes, train_automtl

SIZES = ModelSizes(mmoe_experts=3, expert_units=8, tower_units=4, ple_levels=2, ple_shared=1,
                   ple_task=2, embedding_dim=4)


def test_the_architecture_is_the_topology_s_own_typed_settings():
    mmoe = SIZES.architecture("mmoe")
    assert type(mmoe.params) is MMoEParams
    assert (mmoe.params.num_shared_experts, mmoe.params.expert_units,
            mmoe.params.gate_kind) == (3, [8], "linear")
    ple = SIZES.architecture("ple")
    assert type(ple.params) is PLEParams
    assert (ple.params.levels, ple.params.num_shared_experts,
            ple.params.num_task_experts) == (2, 1, 2)
    for arch in (mmoe, ple):
        dumped = arch.model_dump()
        assert (dumped["tower_units"], dumped["embedding_dim"]) == ([4], 4)
        # the common fields hold no topology setting: they all sit in params
        assert not LEGACY_TOPOLOGY_FIELDS & set(dumped)
        assert set(dumped["params"]) == set(type(arch.params).model_fields)
    with pytest.raises(ValueError, match="topology: unknown 'snr_avg'"):
        SIZES.architecture("snr_avg")


@pytest.mark.parametrize("topology", ["mmoe", "ple"])
def test_one_tiny_timed_run_reports_epochs_auc_and_size(topology):
    data = synthetic_dense(300, features=6).data
    result = train_automtl(data, topology, SIZES, batch_size=64, epochs=2, lr=1e-2,
                           device=torch.device("cpu"), seed=0)
    assert (result.tool, result.topology, result.epochs) == ("automtl", topology, 2)
    assert len(result.epoch_seconds) == 2 and all(s > 0 for s in result.epoch_seconds)
    assert set(result.valid_auc) == {"y1", "y2"}
    assert all(0.0 <= v <= 1.0 and math.isfinite(v) for v in result.valid_auc.values())
    # three experts of one 8-unit layer over 6 features (MMoE) is the size actually built
    if topology == "mmoe":
        experts = 3 * (6 * 8 + 8)
        gates = 2 * (6 * 3 + 3)
        towers = 2 * (8 * 4 + 4 + 4 + 1)
        assert result.parameters == experts + gates + towers
