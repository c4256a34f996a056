"""benchmarks.trainer_overhead --quick: Trainer.fit vs the minimal loop, and the profile."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from automtl.data.synthetic import make_synthetic, synthetic_tasks
from automtl.data.tabular import TabularDataset
from automtl.training.losses import task_losses
from benchmarks import trainer_overhead
from benchmarks.runs import loop_loss


def test_the_loop_computes_the_trainers_masked_loss():
    """The baseline is fair: its one-pass loss is the trainer's per-task masked losses summed
    (equal weighting), also when a task's labels are missing on some rows of the batch."""
    frame = make_synthetic(rows=200, features=4, correlation=0.5, binary=True, seed=0)
    frame.loc[frame.index % 3 == 0, "y2"] = np.nan
    tasks = synthetic_tasks(binary=True)
    batch = TabularDataset(frame, tasks, valid_fraction=0.2, test_fraction=0.0, seed=0).train
    names = [t.name for t in tasks]
    assert not bool(batch.mask.all())  # the mask is exercised
    outputs = {n: torch.randn(len(batch), generator=torch.Generator().manual_seed(i))
               for i, n in enumerate(names)}
    columns = [batch.task_column(n) for n in names]
    expected = sum(task_losses(outputs, batch, tasks).values())
    got = loop_loss(outputs, batch.labels[:, columns], batch.mask[:, columns], names)
    assert float(got) == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.slow
def test_quick_run_compares_fit_with_the_loop_for_each_weighting(tmp_path):
    table = trainer_overhead.main(["--quick", "--batch-sizes", "256", "--out", str(tmp_path),
                                   "--profile"])
    assert [r["weighting"] for r in table] == ["equal", "mgda", "pcgrad"]
    loop = {r["loop rows/s"] for r in table}
    assert len(loop) == 1 and loop.pop() > 0  # one baseline per (model, batch)
    for row in table:
        assert row["fit rows/s"] > 0
        assert row["fit/loop"] == pytest.approx(row["fit rows/s"] / row["loop rows/s"], rel=0.02)
        assert row["fit/loop (CPU time)"] > 0 and 0 < row["validation share"] < 1
        assert 0.5 < row["loop AUC"] <= 1 and 0.5 < row["fit AUC"] <= 1
    equal = table[0]["fit rows/s"]
    for row in table:
        assert row["step cost vs equal"] == pytest.approx(equal / row["fit rows/s"], rel=0.02)
    profile = (tmp_path / "trainer_profile_mmoe_256.txt").read_text()
    assert "aten::" in profile and "Self CPU" in profile
    assert "one minimal loop epoch" in profile and "one Trainer.fit epoch" in profile
    assert "Machine: " in (tmp_path / "trainer_overhead.md").read_text()


def test_equal_is_always_measured_as_the_reference():
    args = trainer_overhead.parse_args(["--weightings", "mgda"])
    assert args.weightings == ["equal", "mgda"]
