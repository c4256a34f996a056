"""Issue 19 in ``automtl search``: bad data stops the command with exit 2 and a message naming
the task, split and counts before Ray starts; good data prints the detected schema."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from automtl.cli import main
from automtl.commands.console import format_dataset_summary
from automtl.config import TaskSpec
from automtl.data import TabularDataset


def _write(tmp_path: Path, frame: pd.DataFrame, split: dict[str, str] | None) -> Path:
    frame.to_csv(tmp_path / "data.csv", index=False)
    spec = {"name": "rare", "dataset": {"path": str(tmp_path / "data.csv"),
                                        **({"split": split} if split else {})},
            "tasks": [{"name": "click"}, {"name": "purchase"}],
            "budget": {"trials": 1, "epochs": 1}}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path / "spec.yaml"


def _frame(rows: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    purchase = np.zeros(rows)
    purchase[:6] = 1.0
    return pd.DataFrame({"x": rng.normal(size=rows), "slot": rng.integers(0, 8, rows),
                         "click": rng.integers(0, 2, rows), "purchase": purchase,
                         "split": np.where(np.arange(rows) < 480, "train", "valid")})


def test_search_refuses_a_task_without_positives_in_valid_with_exit_2(tmp_path, capsys) -> None:
    spec = _write(tmp_path, _frame(), {"column": "split"})
    assert main(["search", str(spec), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "task 'purchase'" in err and "only class 0 in the valid split" in err
    assert "valid 120 labelled (0 positive, 120 negative)" in err
    assert "Traceback" not in err


def test_the_dataset_summary_lists_every_decision_and_count() -> None:
    frame = _frame().drop(columns=["split"])
    ds = TabularDataset(frame, [TaskSpec(name="click"), TaskSpec(name="purchase")])
    text = format_dataset_summary(ds.summary())
    assert "slot: categorical (integer codes: 8 distinct values" in text
    assert "x: numeric (float values)" in text
    assert "(stratified on purchase)" in text
    assert "task purchase valid: 60 labelled, 1 positive" in text


def test_features_of_one_kind_and_reason_share_a_line() -> None:
    """`automtl search` on the synthetic data listed its 100 features one per line."""
    summary = {"features": [{"name": f"x{i}", "kind": "numeric", "reason": "float values"}
                            for i in range(100)]
               + [{"name": "slot", "kind": "categorical", "reason": "strings",
                   "vocabulary": 9}],
               "splits": {"train": 10}, "tasks": []}
    lines = format_dataset_summary(summary).splitlines()
    assert lines[:3] == ["features (101; kind: why):",
                         "  x0..x99 (100 features): numeric (float values)",
                         "  slot: categorical (strings, vocabulary 9)"]
