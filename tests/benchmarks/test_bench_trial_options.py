"""benchmarks.trial_options --quick: the compile table and the thread-split table."""

from __future__ import annotations

import csv
import math

import pytest

from benchmarks import trial_options


def test_break_even_is_compile_time_over_the_time_saved_per_row():
    # 10 s of compile, 1000 -> 2000 rows/s saves 0.5 ms a row: 20,000 rows
    assert trial_options.break_even_rows(10.0, 1000.0, 2000.0) == pytest.approx(20_000)
    assert trial_options.break_even_rows(10.0, 1000.0, 1000.0) == math.inf
    assert trial_options.break_even_rows(10.0, 2000.0, 1000.0) == math.inf


@pytest.mark.parametrize("argv", [["--cores", "3"], ["--compile-epochs", "1"],
                                  ["--device", "cuda"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        trial_options.parse_args(argv)
    assert stop.value.code == 2


@pytest.mark.slow
def test_quick_run_writes_the_compile_and_thread_tables(tmp_path):
    tables = trial_options.main(["--quick", "--out", str(tmp_path)])
    (compiled,) = tables["trial_compile"]
    assert compiled["batch"] == 512
    assert compiled["rows/s off"] > 0 and compiled["rows/s on"] > 0
    assert compiled["on/off"] == pytest.approx(compiled["rows/s on"] / compiled["rows/s off"],
                                               rel=0.02)
    even = trial_options.break_even_rows(compiled["compile_s"], compiled["rows/s off"],
                                         compiled["rows/s on"])
    # recomputed from the table's rounded seconds and rates: equal up to that rounding
    if math.isfinite(even):
        assert compiled["break-even rows"] == pytest.approx(even, rel=0.02)
    else:
        assert compiled["break-even rows"] == "never"
    assert compiled["pays for a preset trial"] == (even <= trial_options.PRESET_TRIAL_ROWS)
    threads = tables["trial_threads"]
    assert [(r["trials at a time"], r["threads per trial"]) for r in threads] == [(1, 2), (2, 1)]
    for row in threads:
        assert row["trials"] == 2 and row["trials/hour"] > 0
    assert threads[0]["vs 1 x 2"] == 1.0
    assert threads[1]["vs 1 x 2"] == pytest.approx(
        threads[1]["trials/hour"] / threads[0]["trials/hour"], rel=0.02)
    for name in ("trial_compile", "trial_threads"):
        with (tmp_path / f"{name}.csv").open() as handle:
            assert len(list(csv.DictReader(handle))) == len(tables[name])
        assert "Machine: " in (tmp_path / f"{name}.md").read_text()
