"""Candidates, model configs and bundles written in the previous (flat) format still load.

The fixtures in ``tests/fixtures/format_v0`` were written by the code before topologies owned
their settings: every architecture carried every topology's fields (``bottom_units``,
``num_shared_experts``, ``gate_*``, ``levels``, ``snr``). Reading converts them: the chosen
topology's fields move into ``params``, the rest are dropped, and the rebuilt network loads the
old weights and predicts exactly what it predicted then.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from automtl import build_model
from automtl.config import LEGACY_TOPOLOGY_FIELDS, Candidate, ModelConfig
from automtl.export import load_bundle_config, save_bundle_config
from automtl.models import get_topology

FIXTURES = Path(__file__).parent.parent / "fixtures" / "format_v0"


@pytest.mark.parametrize("topology", ["ple", "snr_avg", "shared_bottom"])
def test_old_candidates_convert_to_common_fields_plus_the_topologys_own(topology: str) -> None:
    old = json.loads((FIXTURES / f"candidate_{topology}.json").read_text())
    candidate = Candidate.model_validate(old)
    dumped = candidate.model_dump(mode="json")["architecture"]
    own = set(get_topology(topology).Params.model_fields)
    assert set(dumped) == {"topology", "embedding_dim", "activation", "dropout", "tower_units",
                           "params"}
    assert set(dumped["params"]) == own
    for key in own:  # every value the old candidate chose survives the conversion
        old_value = old["architecture"].get(key, (old["architecture"].get("snr") or {}).get(key))
        assert dumped["params"][key] == old_value
    # the converted form reads back to the same candidate
    assert Candidate.model_validate(candidate.model_dump(mode="json")) == candidate


@pytest.mark.parametrize("topology", ["ple", "snr_avg"])
def test_old_model_configs_rebuild_the_same_network(topology: str) -> None:
    config = ModelConfig.model_validate(
        json.loads((FIXTURES / f"model_config_{topology}.json").read_text()))
    saved = torch.load(FIXTURES / f"weights_{topology}.pt")
    model = build_model(config).eval()
    model.load_state_dict(saved["state_dict"], strict=True)
    with torch.no_grad():
        predictions = model(saved["numeric"], saved["categorical"])
    for task, expected in saved["predictions"].items():
        torch.testing.assert_close(predictions[task], expected)


def test_old_bundle_config_loads_and_is_rewritten_without_other_topologies_fields(
        tmp_path: Path) -> None:
    bundle = load_bundle_config(FIXTURES / "config_snr_avg.yaml")
    assert bundle.model.topology == "snr_avg"
    assert bundle.model.params.model_dump() == {  # the old nested ``snr`` section, converted
        "expert_units": [16], "layers": 3, "subnetworks": 2, "beta": 0.5, "gamma": -0.1,
        "zeta": 1.1}
    path = save_bundle_config(tmp_path / "config.yaml", bundle)
    written = yaml.safe_load(path.read_text())["model"]
    assert not set(written) & LEGACY_TOPOLOGY_FIELDS  # no bottom_units, gate_*, levels, ...
    assert set(written["params"]) == set(get_topology("snr_avg").Params.model_fields)
    assert load_bundle_config(path) == bundle


def test_a_field_no_topology_ever_had_is_still_an_error() -> None:
    old = json.loads((FIXTURES / "candidate_ple.json").read_text())
    old["architecture"]["experts_per_gate"] = 3
    with pytest.raises(ValueError, match="experts_per_gate"):
        Candidate.model_validate(old)
