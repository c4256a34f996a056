"""``config.yaml``: written complete, read back identical and validated with field paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from export_helpers import TASKS, dataset, make_frame

from automtl.config import ModelConfig, TrainConfig, WeightingConfig
from automtl.export import BundleConfig, BundleConfigError, load_bundle_config, save_bundle_config
from automtl.models import build_model


@pytest.fixture(scope="module")
def bundle_config() -> BundleConfig:
    schema = dataset(make_frame(200)).schema
    model = ModelConfig(topology="ple", levels=3, num_shared_experts=2, num_task_experts=2,
                        expert_units=[12, 6], gate_kind="mlp", gate_units=[5],
                        gate_temperature=0.7, activation="gelu", dropout=0.2,
                        embedding_dim=5, inputs=schema, tasks=TASKS)
    weighting = WeightingConfig(name="fixed", params={"weights": {
        "click": 1.0, "conv": 0.5, "watch": 0.25, "ctcvr": 2.0}})
    train = TrainConfig(optimizer="adamw", lr=3.1e-4, weight_decay=1e-5, batch_size=256,
                        epochs=7, grad_clip=2.5, seed=42)
    return BundleConfig(model, weighting, train)


def test_round_trip_is_exact(bundle_config: BundleConfig, tmp_path: Path) -> None:
    path = save_bundle_config(tmp_path / "config.yaml", bundle_config, {"job": 3, "trial": 1})
    loaded = load_bundle_config(path)
    assert loaded == bundle_config  # floats (means, stds, lr) and vocabularies exactly
    model, weighting, train = loaded  # unpacks as a tuple
    assert build_model(model).num_parameters() == build_model(bundle_config.model).num_parameters()
    document = yaml.safe_load(path.read_text())
    assert document["format"] == "automtl-bundle/1" and document["source"]["trial"] == 1
    inputs = document["model"]["inputs"]
    assert [f["name"] for f in inputs["numeric"]] == ["x0", "x1", "x2", "x3"]
    assert inputs["categorical"][1] == {"name": "slot", "vocabulary": ["0", "1", "2", "3", "4",
                                                                         "5"]}
    assert document["weighting"]["params"]["weights"]["ctcvr"] == 2.0


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["model"]["params"].update(expert_units=[0]),
     r"model\.params: expert_units: .*>= 1"),
    (lambda d: d["model"]["params"].update(bottom_units=[8]),  # not PLE's own setting
     r"model\.params: bottom_units: Extra inputs are not permitted"),
    (lambda d: d["model"].update(topology="hydra"), r"model\.topology: .*unknown topology"),
    (lambda d: d["model"]["inputs"]["numeric"][0].pop("name"),
     r"model\.inputs\.numeric\.0\.name"),
    (lambda d: d["train"].update(lr=-1), r"train\.lr"),
    (lambda d: d.update(extra=1), r"extra: Extra inputs are not permitted"),
    (lambda d: d.update(format="other/9"), r"format"),
    (lambda d: d["weighting"]["params"]["weights"].pop("conv"),
     r"weighting: .*lacks task\(s\) \['conv'\]"),
    (lambda d: d["weighting"].update(name="magic"), r"weighting: unknown weighting 'magic'"),
])
def test_invalid_configs_name_the_field(bundle_config: BundleConfig, tmp_path: Path,
                                        edit, message: str) -> None:  # type: ignore[no-untyped-def]
    path = save_bundle_config(tmp_path / "config.yaml", bundle_config)
    document = yaml.safe_load(path.read_text())
    edit(document)
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(BundleConfigError, match=message):
        load_bundle_config(path)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(BundleConfigError, match="cannot read"):
        load_bundle_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(BundleConfigError, match="is a mapping"):
        load_bundle_config(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("model: [\n")
    with pytest.raises(BundleConfigError, match="not valid YAML"):
        load_bundle_config(tmp_path / "broken.yaml")
