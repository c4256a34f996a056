"""Census-income loader on small files written in the UCI format (plain and gzipped)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from automtl.data import DataError, load_census_income, read_census_income
from automtl.data.census import CATEGORICAL, COLUMNS, NUMERIC

EDUCATION = ["Children", "High school graduate", "Bachelors degree(BA AB BS)",
             "Masters degree(MA MS MEng MEd MSW MBA)", "Some college but no degree",
             "Prof school degree (MD DDS DVM LLB JD)", "Doctorate degree(PhD EdD)",
             "Associates degree-academic program"]
COLLEGE = {2, 3, 5, 6}
MARITAL = ["Never married", "Married-civilian spouse present", "Divorced", "Widowed"]
INCOME = ["- 50000.", "50000+."]


def _rows(count: int, seed: int) -> tuple[list[str], dict[str, list[float]]]:
    """Lines in the file's format (", " separators, no header) and the expected labels."""
    rng = np.random.default_rng(seed)
    lines, expected = [], {"income_over_50k": [], "never_married": [], "college_education": []}
    for _ in range(count):
        edu, mar, inc = rng.integers(len(EDUCATION)), rng.integers(len(MARITAL)), rng.integers(2)
        fields = []
        for i, name in enumerate(COLUMNS):
            if name == "education":
                fields.append(EDUCATION[edu])
            elif name == "marital_status":
                fields.append(MARITAL[mar])
            elif name == "income":
                fields.append(INCOME[inc])
            elif name == "instance_weight":
                fields.append(f"{rng.uniform(100, 3000):.2f}")
            elif name in NUMERIC:
                fields.append(str(int(rng.integers(0, 90))))
            elif name in ("industry_code", "occupation_code", "year"):
                fields.append(str(int(rng.integers(0, 3))))
            else:
                fields.append(rng.choice(["Not in universe", "?", f"Value {i}"]))
        lines.append(", ".join(fields))
        expected["income_over_50k"].append(float(inc))
        expected["never_married"].append(float(mar == 0))
        expected["college_education"].append(float(edu in COLLEGE))
    return lines, expected


def _write(path: Path, lines: list[str]) -> Path:
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_reads_labels_and_drops_source_columns(tmp_path, gz: bool) -> None:
    lines, expected = _rows(60, seed=0)
    path = _write(tmp_path / ("census-income.data" + (".gz" if gz else "")), lines)
    frame = read_census_income(path)
    assert len(frame) == 60
    for label, values in expected.items():
        np.testing.assert_array_equal(frame[label].to_numpy(), values)
    for gone in ("instance_weight", "education", "marital_status", "income"):
        assert gone not in frame.columns
    assert frame["age"].dtype == np.float64


@pytest.mark.parametrize("gz", [False, True])
def test_paper_split_from_a_directory(tmp_path, gz: bool) -> None:
    suffix = ".gz" if gz else ""
    train_lines, train_expected = _rows(80, seed=1)
    test_lines, _ = _rows(41, seed=2)
    _write(tmp_path / f"census-income.data{suffix}", train_lines)
    _write(tmp_path / f"census-income.test{suffix}", test_lines)
    ds = load_census_income(tmp_path, seed=0)
    assert ds.task_names == ("income_over_50k", "never_married", "college_education")
    assert [t.type for t in ds.tasks] == ["binary"] * 3
    assert len(ds.train) == 80 and len(ds.valid) + len(ds.test) == 41
    assert abs(len(ds.valid) - len(ds.test)) <= 1
    expected = np.array([train_expected[t] for t in ds.task_names]).T
    np.testing.assert_array_equal(ds.train.labels.numpy(), expected)
    assert ds.train.mask.all()
    features = ds.schema.numeric_names + ds.schema.categorical_names
    assert ds.schema.numeric_names == list(NUMERIC)
    assert ds.schema.categorical_names == list(CATEGORICAL)
    assert len(features) == 38
    for gone in ("instance_weight", "education", "marital_status", "income", "split", "source"):
        assert gone not in features
    again = load_census_income(tmp_path, seed=0)
    np.testing.assert_array_equal(again.split_rows["valid"], ds.split_rows["valid"])


def test_fractions_pool_the_files_and_task_subset(tmp_path) -> None:
    lines, _ = _rows(50, seed=3)
    path = _write(tmp_path / "census-income.data", lines)
    ds = load_census_income([path], tasks=None, seed=1, valid_fraction=0.2, test_fraction=0.2)
    assert [len(ds.train), len(ds.valid), len(ds.test)] == [30, 10, 10]
    from automtl.data import CENSUS_TASKS

    one = load_census_income(path, tasks=[CENSUS_TASKS[1]], valid_fraction=0.2, test_fraction=0.0)
    assert one.task_names == ("never_married",)


def test_errors(tmp_path) -> None:
    lines, _ = _rows(10, seed=4)
    _write(tmp_path / "census-income.data", lines)
    with pytest.raises(DataError, match="census-income.test"):
        load_census_income(tmp_path)  # the paper split needs both files
    with pytest.raises(DataError) as err:
        load_census_income(tmp_path / "missing")
    assert err.value.field == "path"
    bad = [line.replace("50000+.", "lots") for line in lines]
    bad[0] = bad[0].rsplit(", ", 1)[0] + ", lots"
    with pytest.raises(DataError, match="'lots'") as err:
        read_census_income(_write(tmp_path / "bad.data", bad))
    assert err.value.column == "income"
    short = [", ".join(line.split(", ")[:30]) for line in lines]
    with pytest.raises(DataError, match="42 columns"):
        read_census_income(_write(tmp_path / "short.data", short))
