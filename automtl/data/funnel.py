"""Sequential conversion data (impression -> click -> purchase) for the ``sequence`` job field.

Recipe (the MMoE paper's synthetic recipe, Ma et al. KDD 2018, section 3.2, chained along a
conversion funnel, as AITM's setting: Xi et al. KDD 2021). Every row is an impression with
features ``x ~ N(0, I_d)``. Step t has a unit weight direction ``w_t`` whose cosine with the
previous step's is ``correlation`` (``w_t = p w_{t-1} + sqrt(1 - p^2) u_t``, the ``u`` orthonormal,
scaled by ``scale``), and a score ``s_t = w_t^T x + sum_j sin(alpha_j w_t^T x + beta_j) + eps``
(``eps ~ N(0, noise^2)``). The first step converts on the ``rates[0]`` share of impressions with the
highest score; step t converts on the ``rates[t]`` share of the rows that converted at step t-1
with the highest ``s_t``, so a conversion implies every earlier one (purchase implies click) and
the label of step t is 0 wherever step t-1 is 0. Labels are 0/1 on every row (the whole
impression space, as AITM trains every step). With the defaults, 20% of impressions click and
25% of clicks purchase (5% of impressions).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from automtl.config import TaskSpec
from automtl.data.errors import DataError

#: the default funnel: (step name, share of the previous step's converters that convert)
DEFAULT_STEPS: tuple[tuple[str, float], ...] = (("click", 0.2), ("purchase", 0.25))


def make_funnel(rows: int = 20000, features: int = 20,
                steps: Sequence[tuple[str, float]] = DEFAULT_STEPS, correlation: float = 0.5,
                scale: float = 1.0, sine_terms: int = 10, noise: float = 0.5,
                seed: int = 0) -> pd.DataFrame:
    """A frame with ``x0..x{features-1}`` and one 0/1 label column per step (see the module
    docstring for the recipe). ``steps`` are ``(name, rate)`` in conversion order, each rate in
    (0, 1]; ``noise`` is the score noise's standard deviation. Raises :class:`DataError` naming
    the bad argument."""
    if rows < 1:
        raise DataError(f"rows must be >= 1, got {rows}", field="rows")
    if not steps:
        raise DataError("steps: at least one step is needed", field="steps")
    if features < len(steps):
        raise DataError(f"features must be >= the number of steps ({len(steps)}), got "
                        f"{features}", field="features")
    if not -1.0 <= correlation <= 1.0:
        raise DataError(f"correlation must be in [-1, 1], got {correlation}",
                        field="correlation")
    bad = [name for name, rate in steps if not 0.0 < rate <= 1.0]
    if bad:
        raise DataError(f"steps: rates must be in (0, 1]; bad for {bad}", field="steps")
    names = [name for name, _ in steps]
    if len(set(names)) != len(names) or any(n.startswith("x") and n[1:].isdigit()
                                            for n in names):
        raise DataError(f"steps: names must be distinct and not feature names, got {names}",
                        field="steps")
    weights_rng, sine_rng, x_rng, noise_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
    basis, _ = np.linalg.qr(weights_rng.standard_normal((features, len(steps))))
    alpha = sine_rng.standard_normal(sine_terms)
    beta = sine_rng.standard_normal(sine_terms)
    x = x_rng.standard_normal((rows, features))
    columns: dict[str, np.ndarray] = {f"x{i}": x[:, i] for i in range(features)}
    direction = basis[:, 0]
    converted = np.ones(rows, dtype=bool)  # every row is an impression
    for index, (name, rate) in enumerate(steps):
        if index > 0:
            direction = correlation * direction + np.sqrt(1.0 - correlation**2) * basis[:, index]
        linear = x @ (scale * direction)
        score = linear + np.sin(np.outer(linear, alpha) + beta).sum(axis=1) \
            + noise_rng.normal(0.0, noise, size=rows)
        eligible = np.flatnonzero(converted)
        keep = int(round(rate * len(eligible)))
        label = np.zeros(rows, dtype=bool)
        if keep:
            top = eligible[np.argsort(-score[eligible], kind="stable")[:keep]]
            label[top] = True
        columns[name] = label.astype(np.float64)
        converted = label
    return pd.DataFrame(columns)


def funnel_tasks(steps: Sequence[tuple[str, float]] = DEFAULT_STEPS) -> list[TaskSpec]:
    """One binary task per step of :func:`make_funnel`; their names in order are the job's
    ``sequence``."""
    return [TaskSpec(name=name) for name, _ in steps]
