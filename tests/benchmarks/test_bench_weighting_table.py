"""benchmarks.weighting_table: the --quick run covers every strategy and both correlations."""

from __future__ import annotations

import csv
import math

import pytest

from automtl.weighting import available_weightings
from benchmarks import weighting_table


def test_variants_list_every_strategy_and_the_other_grad_on() -> None:
    variants = weighting_table.variants()
    assert sorted({name for name, _ in variants}) == available_weightings()
    assert ("cagrad", {"grad_on": "representation"}) in variants
    assert ("mgda", {"grad_on": "parameters"}) in variants
    assert not any(name == "moco" and "grad_on" in params for name, params in variants)


@pytest.mark.slow
def test_quick_run_writes_a_row_per_variant(tmp_path) -> None:
    rows = weighting_table.main(["--quick", "--threads", "1", "--out", str(tmp_path)])
    assert len(rows) == len(weighting_table.variants())
    for row in rows:
        for correlation in ("0.5", "0.0"):
            assert 0.0 <= row[f"AUC r={correlation}"] <= 1.0
        assert row["step ms"] > 0 and math.isfinite(row["step / equal"])
    with (tmp_path / "weighting_table.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)
    assert "Machine: " in (tmp_path / "weighting_table.md").read_text()
