"""benchmarks.model_throughput: a row per registered topology, a skipped one reported."""

from __future__ import annotations

import csv

import pytest
import torch

from automtl.models import available_topologies
from benchmarks import model_throughput


def test_rows_cover_every_registered_topology_and_the_extra_rows() -> None:
    rows = model_throughput.topology_rows()
    assert [topology for _, topology, _ in rows][:len(available_topologies())] == \
        available_topologies()
    assert ("ple levels=2", "ple", {"levels": 2}) in rows
    assert [label for label, _, _ in model_throughput.topology_rows(["mmoe"])] == ["mmoe"]
    with pytest.raises(SystemExit, match="unknown"):
        model_throughput.topology_rows(["hydra"])


def test_quick_run_measures_each_topology_and_reports_a_skipped_one(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_build = model_throughput.build

    def build(topology, data, settings, seed):  # a topology that needs a domain column
        if topology == "sluice":
            raise ValueError("sluice: needs `domains` in the job spec")
        return real_build(topology, data, settings, seed)

    monkeypatch.setattr(model_throughput, "build", build)
    previous = torch.get_num_threads()
    try:
        rows = model_throughput.main(["--quick", "--threads", "1", "--rows", "400",
                                      "--features", "8", "--topologies",
                                      "dselect_k,sluice", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(previous)
    assert [row["topology"] for row in rows] == ["dselect_k"]  # its penalty in the step
    for row in rows:
        assert row["parameters"] > 0 and row["train rows/s"] > 0
        assert 0.0 <= row["valid AUC"] <= 1.0
    with (tmp_path / "model_throughput.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 1
    text = (tmp_path / "model_throughput.md").read_text()
    assert "Machine: " in text and "skipped" in text and "sluice: needs `domains`" in text


def test_domains_gives_per_domain_auc_of_star_and_the_baselines() -> None:
    previous = torch.get_num_threads()
    try:
        rows = model_throughput.main(["--domains", "--rows", "1500", "--features", "6",
                                      "--epochs", "1", "--threads", "1"])
    finally:
        torch.set_num_threads(previous)
    assert [row["topology"] for row in rows] == list(model_throughput.DOMAIN_TOPOLOGIES)
    for row in rows:
        per_domain = [k for k in row if "__" in k]
        assert len(per_domain) == 6  # 2 tasks x 3 domains
        assert all(0.0 <= row[k] <= 1.0 for k in per_domain)


def test_aitm_is_measured_with_the_tasks_as_its_sequence(tmp_path) -> None:
    previous = torch.get_num_threads()
    try:
        rows = model_throughput.main(["--quick", "--threads", "1", "--rows", "400",
                                      "--features", "8", "--topologies", "aitm,star",
                                      "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(previous)
    assert [row["topology"] for row in rows] == ["aitm"]
    assert "star:" in (tmp_path / "model_throughput.md").read_text()  # skipped, with why
