"""``automtl demo --census PATH`` end to end on small files in the census-income layout (the real
files are never downloaded): the server reads them as the census-income builtin and the
bundle's train.py trains on the converted CSV."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from automtl.data.census import COLUMNS, NUMERIC
from automtl_api.demo_service import marked_processes

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc").is_dir(),
                  reason=("checks that no demo process is left "
                          "by listing /proc, which only Linux has"))]

EDUCATION = ["Bachelors degree(BA AB BS)", "High school graduate", "Doctorate degree(PhD EdD)",
             "10th grade"]
MARITAL = ["Never married", "Married-civilian spouse present", "Divorced"]


def _write_census(path: Path, rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(rows):
        values = []
        for column in COLUMNS:
            if column == "income":
                values.append(rng.choice(["- 50000.", "50000+."]))
            elif column == "education":
                values.append(rng.choice(EDUCATION))
            elif column == "marital_status":
                values.append(rng.choice(MARITAL))
            elif column == "instance_weight":
                values.append(f"{rng.uniform(100, 3000):.2f}")
            elif column in NUMERIC:
                values.append(str(int(rng.integers(0, 90))))
            elif column in ("industry_code", "occupation_code", "year"):
                values.append(str(int(rng.integers(0, 5))))  # codes that look numeric
            else:
                values.append(f"{column[:4]} {int(rng.integers(0, 4))}")
        lines.append(", ".join(values))
    path.write_text("\n".join(lines) + "\n")


def test_demo_with_census_files(tmp_path: Path) -> None:
    census = tmp_path / "census"
    census.mkdir()
    _write_census(census / "census-income.data", 600, seed=1)
    _write_census(census / "census-income.test", 300, seed=2)
    out = tmp_path / "demo"
    marker = uuid.uuid4().hex
    env = {**os.environ, "DEMO_TEST_RUN": marker, "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "disabled"}
    result = subprocess.run(
        [sys.executable, "-m", "automtl.cli", "demo", "--out", str(out), "--census",
         str(census), "--trials", "1", "--epochs", "1", "--concurrency", "1"],
        env=env, capture_output=True, text=True, timeout=900)
    left = marked_processes(marker, "DEMO_TEST_RUN")
    assert result.returncode == 0, result.stdout + result.stderr
    assert left == []
    assert "census-income from" in result.stdout and "900 rows" in result.stdout
    assert "valid income_over_50k auc" in result.stdout
    front = json.loads((out / "pareto.json").read_text())
    assert {o["name"] for o in front["objectives"]} == {"income_over_50k", "never_married",
                                                        "college_education"}
    metrics = json.loads((out / "bundle-trained" / "metrics.json").read_text())
    assert set(metrics["valid"]) == {"income_over_50k", "never_married", "college_education"}
    assert not (out / "service" / "datasets").exists()  # the builtin, not an upload
