"""benchmarks.data_load and benchmarks.preprocess_speed: the --quick runs (issue 19, 16)."""

from __future__ import annotations

import csv

from benchmarks import data_load, preprocess_speed


def test_data_load_quick_measures_time_and_memory(tmp_path):
    rows = data_load.main(["--quick", "--out", str(tmp_path)])
    assert [r["rows"] for r in rows] == [20_000]
    row = rows[0]
    assert row["read_s"] > 0 and row["encode_s"] > 0 and row["encoded_mb"] > 0
    # 10 float32 + 20 int64 features, 3 float32 labels, 3 bool masks per row
    assert row["encoded_mb"] * 2**20 == 20_000 * (10 * 4 + 20 * 8 + 3 * 4 + 3)
    assert (tmp_path / "data_load.md").exists()
    with (tmp_path / "data_load.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 1


def test_preprocess_speed_quick_checks_equal_outputs_and_times_each_path(tmp_path):
    rows = preprocess_speed.main(["--quick", "--out", str(tmp_path)])
    names = [r["what"] for r in rows]
    assert "model.py preprocess + predict (DataFrame)" in names
    assert "baseline: per-row preprocess (DataFrame)" in names
    assert all(r["seconds"] > 0 for r in rows)
