"""Tabular multi-task datasets: pandas/CSV/Parquet, the MMoE synthetic recipe (also in several
domains), census-income."""

from __future__ import annotations

from automtl.data.base import SplitTensors
from automtl.data.census import CENSUS_TASKS, load_census_income, read_census_income
from automtl.data.encode import encode_frame, fit_schema
from automtl.data.errors import DataError
from automtl.data.io import detect_schema, read_table
from automtl.data.multi_domain import make_multi_domain, multi_domain_spec
from automtl.data.synthetic import make_synthetic, synthetic_parameters, synthetic_tasks
from automtl.data.tabular import TabularDataset

__all__ = [
    "CENSUS_TASKS",
    "DataError",
    "SplitTensors",
    "TabularDataset",
    "detect_schema",
    "encode_frame",
    "fit_schema",
    "load_census_income",
    "make_multi_domain",
    "make_synthetic",
    "multi_domain_spec",
    "read_census_income",
    "read_table",
    "synthetic_parameters",
    "synthetic_tasks",
]
