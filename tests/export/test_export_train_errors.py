"""The bundle's ``train.py`` on bad input: one line naming the column or option, as the
service and ``automtl search`` say it (:mod:`automtl.data.messages`), exit status 2, no
traceback (a new user got a pandas/torch traceback for a missing column or a NaN)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from export_helpers import dataset, make_frame, record, source, train_trial

from automtl.export import export_trial

pytestmark = pytest.mark.slow  # each run starts a Python with torch and pandas


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train-errors")
    _, _, result = train_trial(dataset(make_frame(300, seed=1)), root / "trial-2", "mmoe")
    return export_trial(source(record(2, root / "trial-2", result)), root / "bundle",
                        trial=2).directory


def _run(bundle: Path, data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(bundle / "train.py"), "--data", str(data), "--epochs", "1",
         "--device", "cpu", "--out", str(data.parent / "out"), *extra],
        capture_output=True, text=True, timeout=300, cwd=data.parent)


@pytest.mark.parametrize(("case", "expected"), [
    ("missing_feature", "train.py: error: feature column 'x2' is not in the data; its "
                        "columns: ['x0', 'x1', 'x3', "),
    ("missing_label", "train.py: error: task 'click': label column 'click' is not in the "
                      "data"),
    ("nan_label_only", "train.py: error: tasks: task 'click' (label column 'click') has no "
                       "labelled rows in the train split"),
    ("no_file", "train.py: error: --data: no such file"),
    ("nan_keep_schema", "train.py: error: numeric feature 'x1' has no value on the train rows"),
])
def test_bad_input_is_one_line_naming_the_field_not_a_traceback(bundle, tmp_path, case,
                                                                expected):
    frame = make_frame(200, seed=3)
    extra: list[str] = []
    if case == "missing_feature":
        frame = frame.drop(columns=["x2"])
    elif case == "missing_label":
        frame = frame.drop(columns=["click"])
    elif case == "nan_label_only":
        frame["click"] = np.nan  # no labelled row for the task
    elif case == "nan_keep_schema":
        frame.loc[::3, "city"] = None
        frame["x1"] = "n/a"  # text in a numeric feature
        extra = ["--keep-schema"]
    data = tmp_path / "user.csv"
    if case != "no_file":
        frame.to_csv(data, index=False)
    done = _run(bundle, data, *extra)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), done.stderr
