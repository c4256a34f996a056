"""The benchmarks' shared helpers: tables, ratios, the machine line, generated datasets."""

from __future__ import annotations

import csv
import math

import torch

from benchmarks.common import (
    machine_line,
    markdown_table,
    ratio,
    synthetic_categorical,
    synthetic_dense,
    write_table,
)


def test_write_table_writes_csv_and_markdown_with_the_machine_line(tmp_path, capsys):
    rows = [{"tool": "a", "rows/s": 1234.5, "auc": 0.81234}, {"tool": "b", "rows/s": float("nan"),
                                                               "auc": 0.7}]
    csv_path, md_path = write_table(rows, tmp_path / "out", "t", "Title", "MACHINE", ["a note"])
    with csv_path.open() as handle:
        read = list(csv.DictReader(handle))
    assert [r["tool"] for r in read] == ["a", "b"]
    assert float(read[0]["rows/s"]) == 1234.5 and math.isnan(float(read[1]["rows/s"]))
    text = md_path.read_text()
    assert text.startswith("## Title") and "Machine: MACHINE" in text and "- a note" in text
    assert "| a | 1,234 | 0.812 |" in text and "| b | n/a | 0.700 |" in text
    assert "Machine: MACHINE" in capsys.readouterr().out


def test_markdown_table_keeps_the_column_order_and_leaves_missing_cells_empty():
    table = markdown_table([{"x": 1, "y": "a"}, {"y": "b"}], columns=["y", "x"])
    assert table.splitlines() == ["| y | x |", "|---|---|", "| a | 1 |", "| b |  |"]


def test_ratio_is_nan_without_a_denominator():
    assert ratio(6.0, 3.0) == 2.0
    assert math.isnan(ratio(1.0, 0.0)) and math.isnan(ratio(1.0, float("nan")))


def test_machine_line_names_cores_torch_and_threads():
    line = machine_line("cpu")
    assert "CPU cores" in line and torch.__version__ in line
    assert f"torch threads: {torch.get_num_threads()}" in line


def test_generated_datasets_have_the_promised_columns():
    dense = synthetic_dense(500, features=12, seed=1).data
    assert len(dense.schema.numeric) == 12 and not dense.schema.categorical
    assert len(dense.train) == 400 and len(dense.valid) == 50
    cat = synthetic_categorical(500, numeric=3, categorical=5, buckets=4).data
    assert cat.schema.numeric_names == ["x5", "x6", "x7"]
    assert cat.schema.categorical_names == [f"c{i}" for i in range(5)]
    assert all(f.cardinality == 5 for f in cat.schema.categorical)  # 4 buckets + OOV
    labels = cat.train.labels
    assert set(labels.unique().tolist()) == {0.0, 1.0}
