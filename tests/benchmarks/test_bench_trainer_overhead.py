"""benchmarks.trainer_overhead --quick: Trainer.fit vs the minimal loop, and the profile."""

from __future__ import annotations

import pytest

from benchmarks import trainer_overhead

pytestmark = pytest.mark.slow


def test_quick_run_compares_fit_with_the_loop_for_each_weighting(tmp_path):
    table = trainer_overhead.main(["--quick", "--batch-sizes", "256", "--out", str(tmp_path),
                                   "--profile"])
    assert [r["weighting"] for r in table] == ["equal", "mgda", "pcgrad"]
    loop = {r["loop rows/s"] for r in table}
    assert len(loop) == 1 and loop.pop() > 0  # one baseline per (model, batch)
    for row in table:
        assert row["fit rows/s"] > 0
        assert row["fit/loop"] == pytest.approx(row["fit rows/s"] / row["loop rows/s"], rel=0.02)
    equal = table[0]["fit rows/s"]
    for row in table:
        assert row["step cost vs equal"] == pytest.approx(equal / row["fit rows/s"], rel=0.02)
    profile = (tmp_path / "trainer_profile_mmoe_256.txt").read_text()
    assert "aten::" in profile and "Self CPU" in profile
    assert "Machine: " in (tmp_path / "trainer_overhead.md").read_text()


def test_equal_is_always_measured_as_the_reference():
    args = trainer_overhead.parse_args(["--weightings", "mgda"])
    assert args.weightings == ["equal", "mgda"]
