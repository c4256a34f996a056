"""One mechanism for topologies that need a job-spec field (a model's ``job_fields``: aitm needs
``sequence``, star needs ``domains``): a preset leaves them out of a job without the field and
says so; a document that names one, or a preset left with none, is refused at the topology's
path with the same message."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

import search_spaces
from automtl.cli import main
from automtl.jobspec import JobSpecError, load_job_spec
from automtl.models import available_topologies, get_topology
from search_spaces import SearchSpaceError

#: topology, the field it needs, the preset that has it, the spec fields that provide it
CASES = [
    ("aitm", "sequence", "default", {"sequence": ["t1", "t2"]}),
    ("star", "domains", "multi_domain",
     {"dataset": {"builtin": "multi-domain", "rows": 300},
      "domains": {"column": "domain", "values": ["d0", "d1", "d2"]}}),
]


def spec(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": "jf", "dataset": {"builtin": "synthetic", "rows": 300},
        "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}]}
    document.update(overrides)
    return document


def test_every_topology_needing_a_field_is_declared_by_its_model() -> None:
    needing = {t: get_topology(t).job_fields for t in available_topologies()
               if get_topology(t).job_fields}
    assert needing == {"aitm": frozenset({"sequence"}), "star": frozenset({"domains"})}


@pytest.mark.parametrize("topology, field, preset, provided", CASES)
def test_a_preset_drops_the_topology_and_says_so(topology: str, field: str, preset: str,
                                                 provided: dict[str, Any]) -> None:
    without = load_job_spec(spec(search_space={"preset": preset}))
    assert topology not in without.space.topologies and without.space.left_out == [topology]
    assert without.space.left_out_note() == (
        f"preset {preset!r} searches without {topology}: {topology} needs {field!r} in the job")
    with_field = load_job_spec(spec(search_space={"preset": preset}, **provided))
    assert topology in with_field.space.topologies and with_field.space.left_out == []
    assert with_field.space.left_out_note() is None


@pytest.mark.parametrize("topology, field, preset, provided", CASES)
@pytest.mark.parametrize("others", [[], ["mmoe"]])
def test_a_space_naming_the_topology_is_refused_at_its_path(
        topology: str, field: str, preset: str, provided: dict[str, Any],
        others: list[str]) -> None:
    space = {"topology": {"choose": {topology: {}, **{o: {} for o in others}}}}
    with pytest.raises(JobSpecError) as caught:
        load_job_spec(spec(search_space=space))
    assert caught.value.errors == [
        (f"search_space.topology.choose.{topology}",
         f"{topology} needs {field!r} in the job spec; set it or leave {topology} out")]
    assert topology in load_job_spec(spec(search_space=space, **provided)).space.topologies


def test_a_preset_left_with_no_topology_is_refused_in_the_same_form() -> None:
    space = search_spaces.load("multi_domain")
    only_star = search_spaces.load({"topology": {"choose": {"star": {}}}})
    only_star.preset = True  # a preset of star alone would have nothing left
    with pytest.raises(SearchSpaceError) as caught:
        only_star.for_job(set())
    assert caught.value.errors == [("topology.choose.star", "star needs 'domains' in the job "
                                                            "spec; set it or leave star out")]
    assert space.for_job({"domains"}) is space


@pytest.mark.parametrize("topology, field, preset, provided", CASES)
def test_the_cli_refuses_the_topology_with_exit_2_naming_the_path(
        topology: str, field: str, preset: str, provided: dict[str, Any], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(spec(search_space={"topology": {"choose": {topology: {}}}})))
    assert main(["search", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"automtl search: error: search_space.topology.choose.{topology}: "
                   f"{topology} needs {field!r} in the job spec; set it or leave {topology} out")
    assert not (tmp_path / "out").exists()


def test_space_show_names_the_topologies_that_need_a_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["space", "show", "multi_domain"]) == 0
    assert "only with a job field: star needs 'domains'; this preset leaves each out of a job " \
           "without its field" in capsys.readouterr().out
    document = tmp_path / "space.yaml"
    document.write_text("topology: {choose: {aitm: {}, mmoe: {}}}\n")
    assert main(["space", "show", str(document), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["needs_job_fields"] == {"aitm": ["sequence"]} and not summary["preset"]
    assert main(["space", "show", str(document)]) == 0
    assert "a job without the field is refused" in capsys.readouterr().out
    assert main(["space", "show", "moe"]) == 0
    assert "only with a job field" not in capsys.readouterr().out


def test_automtl_search_prints_what_the_preset_left_out_after_the_data_loaded() -> None:
    from automtl.commands.console import SearchProgress

    note = load_job_spec(spec(search_space={"preset": "multi_domain"})).space.left_out_note()
    assert note is not None
    stream = io.StringIO()
    progress = SearchProgress(["t1", "t2"], 2, stream=stream, disable=True, notes=[note])
    assert stream.getvalue() == ""  # nothing before the data loaded (a bad file: one line)
    progress.on_dataset({"features": [{"name": "x0", "kind": "numeric", "reason": "floats"}],
                         "splits": {"train": 10}, "tasks": []})
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "features (1; kind: why):" and lines[-1] == note


def test_run_search_logs_what_the_preset_left_out(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """The worker's log line (run_search logs it before it reads the data, so a missing file,
    which ends this call, is enough to see it)."""
    from automtl.data import DataError
    from automtl.search import run_search

    document = spec(search_space={"preset": "multi_domain"},
                    dataset={"path": str(tmp_path / "missing.csv")})
    with caplog.at_level(logging.INFO, logger="automtl.search.runner"), \
            pytest.raises(DataError, match="no such file"):
        run_search(document, artifact_dir=tmp_path / "out")
    assert ("automtl-jf: preset 'multi_domain' searches without star: star needs 'domains' "
            "in the job") in caplog.messages


@pytest.mark.parametrize("preset, extra, before, under_table", [
    # the everyday preset without a sequence: expected, one short line under the table
    ("default", {}, [], ["(not searched: aitm needs 'sequence' in the job)"]),
    ("default", {"sequence": ["t1", "t2"]}, [], []),
    # a preset chosen for its topologies that loses one: the full line before the first trial
    ("multi_domain", {}, ["preset 'multi_domain' searches without star: star needs 'domains' "
                          "in the job"], []),
    ("moe", {}, [], []),
])
def test_automtl_search_says_what_a_preset_left_out_once_and_only_where_it_is_news(
        preset: str, extra: dict[str, Any], before: list[str], under_table: list[str]) -> None:
    from automtl.commands.search import left_out_notes

    space = load_job_spec(spec(search_space={"preset": preset}, **extra)).space
    assert left_out_notes(space) == (before, under_table)


@pytest.mark.parametrize("preset, printed", [("default", False), ("multi_domain", True)])
def test_automtl_search_prints_the_left_out_line_before_training_only_for_a_chosen_preset(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        preset: str, printed: bool) -> None:
    """``automtl search`` itself: the run ends at its data (a DataError, exit 2) right after
    the dataset summary, where the line before training goes."""
    import automtl.search
    from automtl.data import DataError

    def data_then_stop(spec_: Any, callbacks: Any, **kwargs: Any) -> None:
        callbacks.on_dataset({"features": [], "splits": {"train": 10}, "tasks": []})
        raise DataError("stop here")

    monkeypatch.setattr(automtl.search, "run_search", data_then_stop)
    document = tmp_path / "job.yaml"
    document.write_text(yaml.safe_dump(spec(search_space={"preset": preset})))
    assert main(["search", str(document), "--out", str(tmp_path / "out"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "kind: why):" in err and "stop here" in err
    assert ("searches without" in err) is printed
