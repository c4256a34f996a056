"""UCI Census-Income (KDD) from local files, with the three tasks of the MMoE paper.

The files ``census-income.data`` and ``census-income.test`` (optionally ``.gz``) hold 42
comma-separated columns and no header. Column 24 (instance weight) is dropped. Tasks, as in
Ma et al. KDD 2018 (section 5.2):

- ``income_over_50k``: column 41 (income) is ``50000+.`` -> 1, ``- 50000.`` -> 0;
- ``never_married``: column 7 (marital status) is ``Never married`` -> 1, any other value -> 0;
- ``college_education``: column 4 (education) is one of ``Bachelors degree(BA AB BS)``,
  ``Masters degree(MA MS MEng MEd MSW MBA)``, ``Prof school degree (MD DDS DVM LLB JD)``,
  ``Doctorate degree(PhD EdD)`` -> 1 (matched by the prefixes ``Bachelors degree``,
  ``Masters degree``, ``Prof school degree``, ``Doctorate degree``), any other value -> 0.

Income, marital status and education are label sources and never features. The seven
continuous columns of the dataset's documentation are numeric, the rest categorical. Nothing is
ever downloaded: the loader reads the paths it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from automtl.config import TaskSpec
from automtl.data.encode import numeric_values
from automtl.data.errors import DataError, preview
from automtl.data.tabular import TabularDataset

#: the 42 columns in file order (census-income.names)
COLUMNS: tuple[str, ...] = (
    "age", "class_of_worker", "industry_code", "occupation_code", "education",
    "wage_per_hour", "enrolled_in_edu_inst_last_wk", "marital_status", "major_industry_code",
    "major_occupation_code", "race", "hispanic_origin", "sex", "member_of_labor_union",
    "reason_for_unemployment", "employment_status", "capital_gains", "capital_losses",
    "dividends_from_stocks", "tax_filer_status", "region_of_previous_residence",
    "state_of_previous_residence", "household_family_status", "household_summary",
    "instance_weight", "migration_code_change_in_msa", "migration_code_change_in_reg",
    "migration_code_move_within_reg", "live_in_this_house_1_year_ago",
    "migration_prev_res_in_sunbelt", "num_persons_worked_for_employer",
    "family_members_under_18", "country_of_birth_father", "country_of_birth_mother",
    "country_of_birth_self", "citizenship", "own_business_or_self_employed",
    "fill_inc_questionnaire_for_veterans_admin", "veterans_benefits", "weeks_worked_in_year",
    "year", "income",
)
NUMERIC: tuple[str, ...] = (
    "age", "wage_per_hour", "capital_gains", "capital_losses", "dividends_from_stocks",
    "num_persons_worked_for_employer", "weeks_worked_in_year",
)
LABEL_SOURCES: tuple[str, ...] = ("income", "marital_status", "education")
DROPPED: tuple[str, ...] = ("instance_weight",) + LABEL_SOURCES
CATEGORICAL: tuple[str, ...] = tuple(c for c in COLUMNS if c not in NUMERIC + DROPPED)
COLLEGE_PREFIXES: tuple[str, ...] = ("Bachelors degree", "Masters degree", "Prof school degree",
                                     "Doctorate degree")
INCOME_VALUES: dict[str, float] = {"- 50000.": 0.0, "50000+.": 1.0}
CENSUS_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(name="income_over_50k", type="binary"),
    TaskSpec(name="never_married", type="binary"),
    TaskSpec(name="college_education", type="binary"),
)
FILE_NAMES: dict[str, str] = {"data": "census-income.data", "test": "census-income.test"}


def census_files(path: str | Path) -> dict[str, Path]:
    """``{"data": ..., "test": ...}`` found in a directory (plain or ``.gz``), or one file."""
    path = Path(path)
    if path.is_file():
        return {"test" if ".test" in path.name else "data": path}
    if not path.is_dir():
        raise DataError(f"census-income path {str(path)!r} does not exist", field="path")
    found = {}
    for key, name in FILE_NAMES.items():
        for candidate in (path / name, path / f"{name}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
    if not found:
        raise DataError(f"no {FILE_NAMES['data']}[.gz] or {FILE_NAMES['test']}[.gz] in "
                        f"{str(path)!r}", field="path")
    return found


def read_census_file(path: str | Path) -> pd.DataFrame:
    """One census-income file as features plus the three label columns (source columns gone)."""
    path = Path(path)
    try:
        raw = pd.read_csv(path, header=None, skipinitialspace=True, dtype=str, na_filter=False,
                          names=list(COLUMNS), index_col=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read census-income file {str(path)!r}: {exc}",
                        field="path") from exc
    short = raw[COLUMNS[-1]].isna() | raw[COLUMNS[-1]].eq("")
    if bool(short.any()):
        raise DataError(f"{str(path)!r}: rows must have {len(COLUMNS)} columns, line "
                        f"{int(np.argmax(short.to_numpy())) + 1} has fewer", field="path")
    for name in NUMERIC:
        raw[name] = numeric_values(raw[name], name, what="census-income column")
    income = raw["income"].str.strip()
    known = income.isin(list(INCOME_VALUES))
    if not bool(known.all()):
        raise DataError(f"{str(path)!r}: income column (41) has values "
                        f"{preview(income[~known])}; expected {sorted(INCOME_VALUES)}",
                        column="income")
    education = raw["education"].str.strip()
    frame = raw.drop(columns=list(DROPPED))
    frame["income_over_50k"] = income.map(INCOME_VALUES).astype("float64")
    frame["never_married"] = (raw["marital_status"].str.strip() == "Never married").astype(
        "float64")
    college = np.zeros(len(raw), dtype=np.float64)
    for prefix in COLLEGE_PREFIXES:
        college[education.str.startswith(prefix).to_numpy()] = 1.0
    frame["college_education"] = college
    return frame


def read_census_income(path: str | Path | Sequence[str | Path]) -> pd.DataFrame:
    """Every given file's rows (a directory: ``.data`` then ``.test``), with a ``source`` column
    naming the file each row came from (``data`` or ``test``)."""
    if isinstance(path, (str, Path)):
        files = census_files(path)
    else:
        files = {}
        for item in path:
            files.update(census_files(item))
    parts = [read_census_file(file).assign(source=key) for key, file in sorted(files.items())]
    return pd.concat(parts, ignore_index=True)


def load_census_income(path: str | Path | Sequence[str | Path],
                       tasks: Sequence[TaskSpec] | None = None, *, seed: int = 0,
                       valid_fraction: float | None = None,
                       test_fraction: float | None = None) -> TabularDataset:
    """A :class:`TabularDataset` of census-income with the MMoE tasks (default: all three).

    With no fractions it uses the paper's split and needs both files: ``.data`` is train and
    ``.test`` is halved at random (``seed``) into valid and test. With fractions, all rows read
    are pooled and split at random by them.
    """
    frame = read_census_income(path)
    tasks = list(CENSUS_TASKS if tasks is None else tasks)
    if valid_fraction is None and test_fraction is None:
        present = set(frame["source"])
        if present != {"data", "test"}:
            missing = sorted({"data", "test"} - present)[0]
            raise DataError(f"the paper split needs {FILE_NAMES[missing]}[.gz]; give it or "
                            "set valid_fraction/test_fraction", field="path")
        halves = np.random.default_rng(seed).permutation(int((frame["source"] == "test").sum()))
        split = np.full(len(frame), "train", dtype=object)
        test_rows = np.flatnonzero(frame["source"].to_numpy() == "test")
        split[test_rows[halves % 2 == 0]] = "valid"
        split[test_rows[halves % 2 == 1]] = "test"
        frame["split"] = split
        return TabularDataset(frame, tasks, numeric=NUMERIC, categorical=CATEGORICAL,
                              split_column="split")
    return TabularDataset(frame, tasks, numeric=NUMERIC, categorical=CATEGORICAL,
                          valid_fraction=valid_fraction or 0.0,
                          test_fraction=test_fraction or 0.0, seed=seed)
