"""benchmarks.sequence_auc: the --quick run writes a row per model with AUCs in [0, 1]."""

from __future__ import annotations

import csv

import pytest

from benchmarks import sequence_auc


@pytest.mark.slow
def test_quick_run_writes_a_row_per_model(tmp_path) -> None:
    rows = sequence_auc.main(["--quick", "--threads", "1", "--out", str(tmp_path)])
    assert [row["model"] for row in rows] == [label for label, _, _ in sequence_auc.MODELS]
    for row in rows:
        assert 0.0 <= row["click AUC"] <= 1.0 and 0.0 <= row["purchase AUC"] <= 1.0
        assert row["params"] > 0
    assert rows[0]["click - mmoe"] == 0.0  # mmoe against itself
    aitm = {row["model"]: row["params"] for row in rows}
    assert aitm["aitm"] == aitm["aitm, calibrator 0"]  # the calibrator adds no parameters
    with (tmp_path / "sequence_auc.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)
    assert "Machine: " in (tmp_path / "sequence_auc.md").read_text()
