"""Reports of a search: the Pareto front with its hypervolume, read from the Optuna study."""

from __future__ import annotations

from automtl.report.pareto import (
    front_rows,
    hypervolume,
    pareto_front,
    reference_point,
    trial_rows,
)

__all__ = ["front_rows", "hypervolume", "pareto_front", "reference_point", "trial_rows"]
