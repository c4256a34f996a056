"""``automtl space list|show|validate|schema``."""

from __future__ import annotations

import json

import search_spaces
from automtl.cli import main


def test_show_prints_topologies_sizes_and_parameters(capsys):
    assert main(["space", "show", "default"]) == 0
    out = capsys.readouterr().out
    topologies = search_spaces.load("default").topologies  # the preset lists every topology
    assert f"{len(topologies)} topologies: {', '.join(topologies[:4])}" in out
    ple = next(b for b in search_spaces.load("default").summary().topologies if b.name == "ple")
    # levels 3 x shared 4 x task 2 x expert_units 4 x gate_kind 2 x embedding 3 x activation 2
    # x towers 2; dropout is the continuous one
    assert ple.discrete_combinations == 3 * 4 * 2 * 4 * 2 * 3 * 2 * 2
    assert f"topology   ple                   9 {ple.discrete_combinations:>16,}           1" in out
    assert "float ranges without a step are continuous" in out
    assert "  ple/levels                  int [1, 3]" in out
    assert "= 3" not in out
    assert main(["space", "show", "default", "--all"]) == 0
    assert "optimizer/epochs" in capsys.readouterr().out


def test_show_json_matches_the_summary(capsys):
    assert main(["space", "show", "moe", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [b["name"] for b in summary["topologies"]] == ["omoe", "mmoe", "cgc", "ple"]
    expected = sum(b["discrete_combinations"] for b in summary["topologies"]) * \
        summary["optimizer"]["discrete_combinations"]
    assert summary["discrete_combinations"] == expected


def test_validate_reports_every_error_and_fails(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("topology: {choose: {ple: {levels: 0}, mmoe: {foo: 1}}}\n")
    assert main(["space", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: 2 error(s)" in err
    assert "topology.choose.ple.levels: value 0 must be >= 1" in err
    assert "topology.choose.mmoe.foo: unknown parameter 'foo' for mmoe" in err


def test_validate_checks_fixed_weights_against_tasks(tmp_path, capsys):
    path = tmp_path / "fixed.yaml"
    path.write_text("topology: {choose: {mmoe: {}}}\n"
                    "weighting: {choose: {fixed: {ctr: 1.0, cvr: 0.5}}}\n")
    assert main(["space", "validate", str(path), "--tasks", "ctr,cvr"]) == 0
    assert "valid (1 topology, 1 weighting" in capsys.readouterr().out
    assert main(["space", "validate", str(path), "--tasks", "ctr,ctcvr"]) == 2
    err = capsys.readouterr().err
    assert "weighting.choose.fixed.cvr: unknown task 'cvr'" in err
    assert "no weight for task(s) ['ctcvr']" in err


def test_list_and_schema(capsys):
    assert main(["space", "list"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["default", "moe", "multi_domain", "ple_depth", "snr", "weighting"]
    assert main(["space", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "automtl search space"
