"""Malformed documents: every problem is reported at once, each with the path that names it."""

from __future__ import annotations

import json

import pytest

import search_spaces
from search_spaces import SearchSpaceError

MMOE = {"topology": {"choose": {"mmoe": {}}}}


def errors_of(document) -> list[tuple[str, str]]:
    with pytest.raises(SearchSpaceError) as info:
        search_spaces.load(document)
    return info.value.errors


MALFORMED = [
    pytest.param({"topology": {"choose": {"transformer": {}}}},
                 "topology.choose.transformer", "unknown topology 'transformer'; valid: [",
                 id="unknown-topology"),
    pytest.param({"topology": {"choose": {"mmoe": {"expert_units": [64, -8]}}}},
                 "topology.choose.mmoe.expert_units",
                 "value [64, -8]: layer widths must be >= 1", id="negative-units"),
    pytest.param({"topology": {"choose": {"mmoe": {"experts": {"int": [8, 2]}}}}},
                 "topology.choose.mmoe.experts", "low 8 must be <= high 2", id="low-above-high"),
    pytest.param({"topology": {"choose": {}}}, "topology.choose",
                 "choose at least one topology; valid: [", id="empty-choice"),
    pytest.param({"topology": {"choose": {"mmoe": {"levels": 2}}}},
                 "topology.choose.mmoe.levels",
                 "unknown parameter 'levels' for mmoe; valid: [", id="parameter-outside-branch"),
    pytest.param({"topology": {"choose": {"mmoe": {"experts": "four"}}}},
                 "topology.choose.mmoe.experts", "expected an integer, got the string 'four'",
                 id="wrong-type"),
    pytest.param({**MMOE, "weighting": {"choose": {"magic": {}}}},
                 "weighting.choose.magic", "unknown weighting 'magic'; valid: [",
                 id="unknown-weighting"),
    pytest.param({**MMOE, "optimizer": {"weight_decay": {"float": [0.0, 0.1], "log": True}}},
                 "optimizer.weight_decay", "log needs low > 0, got 0", id="log-with-low-zero"),
    pytest.param({**MMOE, "optimizer": {"lr": {"float": [0.001, 0.01], "step": 0.004}}},
                 "optimizer.lr.step", "high - low = 0.009 is not a multiple of step 0.004",
                 id="float-step-not-dividing"),
    pytest.param({"topology": {"choose": {"ple": {"levels": {"int": [0, 3]}}}}},
                 "topology.choose.ple.levels", "low 0 must be >= 1", id="ple-levels-0"),
    pytest.param({**MMOE, "trials": 10}, "trials",
                 "unknown key 'trials'; valid: ['description', 'topology', 'architecture', "
                 "'weighting', 'optimizer', 'vocabulary']", id="unknown-top-level-key"),
    pytest.param({"weighting": {"choose": {"equal": {}}}}, "topology",
                 "required: {choose: {TOPOLOGY: {PARAMETER: VALUE, ...}, ...}}",
                 id="missing-topology"),
    pytest.param({"topology": {"mmoe": {}}}, "topology",
                 "expected {choose: {TOPOLOGY: {...}, ...}}; valid topology names: [",
                 id="choice-without-choose"),
    pytest.param({"topology": {"choose": {"mmoe": {}}, "pick": 1}}, "topology.pick",
                 "unknown key 'pick'; valid: ['choose']", id="unknown-key-beside-choose"),
    pytest.param({"topology": {"choose": {"mmoe": {"experts": 0}}}},
                 "topology.choose.mmoe.experts", "value 0 must be >= 1", id="mmoe-zero-experts"),
    pytest.param({"topology": {"choose": {"snr_avg": {"gamma": {"float": [-0.2, 0.1]}}}}},
                 "topology.choose.snr_avg.gamma", "high 0.1 must be < 0", id="snr-gamma-positive"),
    pytest.param({"topology": {"choose": {"mmoe": {"gate_kind": {"categorical": ["linear",
                                                                                 "attention"]}}}}},
                 "topology.choose.mmoe.gate_kind.categorical[1]",
                 "unknown choice 'attention'; valid: ['linear', 'mlp']", id="unknown-gate-kind"),
    pytest.param({"topology": {"choose": {"cgc": {"shared_experts": {"int": [0, 2]},
                                                  "task_experts": {"int": [0, 2]}}}}},
                 "topology.choose.cgc.task_experts",
                 "shared_experts and task_experts can both be 0: every gate needs at least one "
                 "expert (raise the low end of either)", id="gate-without-experts"),
    pytest.param({"topology": {"choose": {"mmoe": {"gate_kind": "mlp", "gate_units": []}}}},
                 "topology.choose.mmoe.gate_units",
                 "gate_kind can be 'mlp', which needs at least one gate layer, but gate_units can "
                 "be empty", id="mlp-gate-without-layers"),
    pytest.param({"topology": {"choose": {"shared_bottom": {}}},
                  "architecture": {"expert_units": [64]}},
                 "architecture.expert_units",
                 "expert_units reaches no topology: no allowed topology uses it",
                 id="shared-parameter-unused"),
    pytest.param({"topology": {"choose": {"mmoe": {}}}, "architecture": {"levels": 2}},
                 "architecture.levels",
                 "unknown parameter 'levels' for architecture; valid: [", id="branch-only-shared"),
    pytest.param({**MMOE, "weighting": {"choose": {"gradnorm": {"alpha": -1.0}}}},
                 "weighting.choose.gradnorm.alpha", "value -1.0 must be >= 0",
                 id="gradnorm-negative-alpha"),
    pytest.param({**MMOE, "weighting": {"choose": {"fixed": {}}}}, "weighting.choose.fixed",
                 "name every task with its weight, e.g. {ctr: 1.0, cvr: 0.5}",
                 id="fixed-without-weights"),
    pytest.param({**MMOE, "weighting": {"choose": {"fixed": {"ctr": -1.0}}}},
                 "weighting.choose.fixed.ctr", "value -1.0 must be >= 0", id="negative-weight"),
    pytest.param({**MMOE, "optimizer": {"name": "lamb"}}, "optimizer.name",
                 "unknown value 'lamb'; valid: ['adam', 'adamw', 'sgd']", id="unknown-optimizer"),
    pytest.param(["mmoe"], "", "a search space is a mapping", id="not-a-mapping"),
]


@pytest.mark.parametrize(("document", "path", "message"), MALFORMED)
def test_malformed_document_names_the_path(document, path, message):
    errors = errors_of(document)
    assert len(errors) == 1, errors
    assert errors[0][0] == path
    assert errors[0][1].startswith(message), errors[0][1]


def test_parameter_outside_its_branch_says_where_it_belongs():
    (path, message), = errors_of({"topology": {"choose": {"mmoe": {"levels": 2}}}})
    assert message.endswith("('levels' belongs inside the branch of: adatt, ml_mmoe, ple)")
    (path, message), = errors_of({"topology": {"choose": {"mmoe": {}}},
                                  "architecture": {"levels": 2}})
    assert message.endswith("('levels' belongs inside the branch of: adatt, ml_mmoe, ple)")


def test_every_error_is_reported_at_once():
    document = {
        "topology": {"choose": {
            "ple": {"levels": {"int": [0, 3]}, "shared_experts": {"int": [4, 1]}, "foo": 1},
            "mmoe": {"expert_units": {"categorical": [[64], [64]]}},
            "nope": {},
        }},
        "weighting": {"choose": {"dwa": {"temperature": 0.0}, "magic": {}}},
        "optimizer": {"lr": {"float": [0.0, 0.1], "log": True}, "batch_size": 0},
        "extra": True,
    }
    errors = errors_of(document)
    paths = [p for p, _ in errors]
    assert paths == [
        "extra",
        "topology.choose.ple.levels",
        "topology.choose.ple.shared_experts",
        "topology.choose.ple.foo",
        "topology.choose.mmoe.expert_units.categorical",
        "topology.choose.nope",
        "weighting.choose.dwa.temperature",
        "weighting.choose.magic",
        "optimizer.lr",
        "optimizer.batch_size",
    ]
    assert ("topology.choose.ple.levels", "low 0 must be >= 1") in errors
    assert ("optimizer.batch_size", "value 0 must be >= 1") in errors


def test_error_is_a_value_error_listing_every_line():
    with pytest.raises(ValueError) as info:
        search_spaces.load({"topology": {"choose": {"ple": {"levels": 0, "x": 1}}}})
    text = str(info.value)
    assert text.startswith("invalid search space (2 errors):")
    assert "topology.choose.ple.levels: value 0 must be >= 1" in text
    assert "topology.choose.ple.x: unknown parameter 'x' for ple" in text


def test_files_presets_and_references(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("topology: {choose: [\n")
    (path, message), = errors_of(str(bad_yaml))
    assert path == "" and message.startswith(f"cannot parse {bad_yaml}")
    (path, message), = errors_of(str(tmp_path / "missing.yaml"))
    assert message.startswith("no preset or file named") and "default" in message
    as_json = tmp_path / "space.json"
    as_json.write_text(json.dumps({"topology": {"choose": {"ple": {"levels": 0}}}}))
    assert errors_of(as_json) == [("topology.choose.ple.levels", "value 0 must be >= 1")]
    assert errors_of({"preset": "nonesuch"})[0][0] == "preset"
    assert errors_of({"preset": "default", "optimizer": {}}) == [
        ("optimizer", "a preset reference takes no other keys")]
    with pytest.raises(SearchSpaceError, match="unknown preset 'nonesuch'"):
        search_spaces.load_preset("nonesuch")


def test_yaml_exponent_without_dot_is_a_number(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("topology: {choose: {mmoe: {}}}\noptimizer: {lr: 1e-3}\n")
    space = search_spaces.load(path)
    assert space.fixed_candidate({})["train"]["lr"] == 0.001


def test_a_mistyped_preset_gets_a_did_you_mean():
    """'defualt' listed the presets but did not say which one was meant (as a mistyped
    topology or field does)."""
    with pytest.raises(SearchSpaceError, match=r"unknown preset 'defualt' \(did you mean "
                                               r"'default'\?\); valid: \["):
        search_spaces.load_preset("defualt")
    assert "(did you mean 'default'?)" in errors_of({"preset": "defualt"})[0][1]
    with pytest.raises(SearchSpaceError, match=r"'defualt' \(did you mean 'default'\?\)"):
        search_spaces.load("defualt")
