"""The job spec's ``sequence`` (conversion steps in order, for aitm): its validation, how the
search space follows it, and the CLI's answer to a bad one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from automtl.cli import main
from automtl.jobspec import JobSpecError, load_job_spec


def spec(**overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": "funnel", "dataset": {"builtin": "synthetic", "rows": 200, "features": 4},
        "tasks": [{"name": "click", "label": "y1"}, {"name": "purchase", "label": "y2"}]}
    out.update(overrides)
    return out


def errors_of(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(JobSpecError) as caught:
        load_job_spec(document)
    return caught.value.errors


@pytest.mark.parametrize("sequence, message", [
    (["click"], "at least 2 steps"),
    ([], "at least 2 steps"),
    (["click", "click"], "['click'] listed twice"),
    (["click", "refund"], "unknown task 'refund'; the job's tasks: ['click', 'purchase']"),
])
def test_a_bad_sequence_is_reported_at_the_field(sequence: list[str], message: str) -> None:
    errors = errors_of(spec(sequence=sequence))
    assert [path for path, _ in errors] == ["sequence"]
    assert message in errors[0][1]


def test_steps_must_be_plain_binary_tasks() -> None:
    tasks = [{"name": "click", "label": "y1"}, {"name": "spend", "label": "y2",
                                                 "type": "regression"},
             {"name": "cvr", "label": "y2"},
             {"name": "ctcvr", "label": "y2", "product_of": ["click", "cvr"]}]
    regression = errors_of(spec(tasks=tasks, sequence=["click", "spend"]))
    assert regression == [("sequence", "task 'spend' is a regression task; a conversion step "
                                       "must be binary")]
    product = errors_of(spec(tasks=tasks, sequence=["click", "ctcvr"]))
    assert product[0][0] == "sequence" and "ESMM product" in product[0][1]
    assert load_job_spec(spec(tasks=tasks, sequence=["click", "cvr"])).sequence == \
        ["click", "cvr"]


def test_default_samples_aitm_only_for_a_job_with_a_sequence() -> None:
    plain = load_job_spec(spec())
    assert plain.sequence is None and "aitm" not in plain.space.topologies
    assert plain.space.left_out == ["aitm"] and "mmoe" in plain.space.topologies
    funnel = load_job_spec(spec(sequence=["click", "purchase"]))
    assert "aitm" in funnel.space.topologies and funnel.space.left_out == []
    assert set(funnel.space.topologies) - {"aitm"} == set(plain.space.topologies)


def test_a_space_that_names_aitm_needs_the_sequence() -> None:
    space = {"topology": {"choose": {"aitm": {}, "mmoe": {}}}}
    errors = errors_of(spec(search_space=space))
    assert errors == [("search_space.topology.choose.aitm",
                       "aitm needs 'sequence' in the job spec; set it or leave aitm out")]
    chosen = load_job_spec(spec(search_space=space, sequence=["purchase", "click"]))
    assert chosen.space.topologies == ["aitm", "mmoe"]


def test_the_cli_refuses_a_bad_sequence_with_exit_2(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(spec(sequence=["click", "refund"])))
    assert main(["search", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("automtl search: error: ") and "sequence" in err and "refund" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_sequence_and_domains_together_are_refused_at_the_sequence() -> None:
    errors = errors_of(spec(sequence=["click", "purchase"],
                            dataset={"builtin": "multi-domain", "rows": 300},
                            domains={"column": "domain", "values": ["d0", "d1", "d2"]}))
    assert ("sequence", "a conversion sequence is not supported together with domains yet; "
                        "leave one of them out") in errors
