"""Synthetic multi-domain data: the MMoE recipe's two tasks, in domains whose labels differ
partially, one domain with few rows.

Recipe (an extension of Ma et al. KDD 2018, section 3.2, in the spirit of STAR's multi-domain
setting, Sheng et al. CIKM 2021), with d = ``features``, p = ``correlation``, s = ``shift``:

1. The shared weights w1, w2 (cosine p, norm 1) and the sine terms α, β come from
   :func:`~automtl.data.synthetic.synthetic_parameters` (same seed, same parameters).
2. Each domain k gets its own weights ``w_ik = sqrt(1 - s²)·w_i + s·v_ik`` with v_ik a random
   unit vector (independent per task and domain; nearly orthogonal to w_i for large d): s = 0
   makes every domain the same function, s = 1 unrelated ones; at the default 0.5 the cosine of
   w_ik and w_i is about sqrt(1 - s²) = 0.87. Domain k also gets a label offset
   ``b_k ~ N(0, bias²)``.
3. Rows are assigned to domains with probabilities ``shares`` (default 0.45 / 0.45 / 0.10:
   ``d2`` is the small domain), x ~ N(0, I), and
   ``y_i = w_ikᵀx + Σ_j sin(α_j·w_ikᵀx + β_j) + b_k + ε`` (ε ~ N(0, 0.01)).
4. ``binary`` thresholds each task at its median over all rows, so the offsets give the
   domains different positive rates.

Columns: ``x0..x{d-1}``, ``domain`` (``d0``, ``d1``, ...), labels ``y1``, ``y2``. The job uses
``domains: {column: domain, values: [d0, d1, d2]}``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from automtl.config import DomainSpec
from automtl.data.errors import DataError
from automtl.data.synthetic import NOISE_VARIANCE, _nonlinear_label, synthetic_parameters

#: the default domain shares: two large domains and a small one
DEFAULT_SHARES: tuple[float, ...] = (0.45, 0.45, 0.10)


def domain_names(count: int) -> list[str]:
    """``["d0", "d1", ...]``: the generator's domain values."""
    return [f"d{k}" for k in range(count)]


def make_multi_domain(rows: int = 20000, features: int = 20, correlation: float = 0.5,
                      shift: float = 0.5, bias: float = 0.5,
                      shares: Sequence[float] = DEFAULT_SHARES, sine_terms: int = 10,
                      seed: int = 0, binary: bool = True) -> pd.DataFrame:
    """A frame of the recipe above (module docstring); ``len(shares)`` domains.

    Raises :class:`DataError` naming the field for out-of-range settings.
    """
    if rows < 1:
        raise DataError(f"rows must be >= 1, got {rows}", field="rows")
    if not 0.0 <= shift <= 1.0:
        raise DataError(f"shift must be in [0, 1], got {shift}", field="shift")
    if bias < 0:
        raise DataError(f"bias must be >= 0, got {bias}", field="bias")
    share = np.asarray(list(shares), dtype=np.float64)
    if share.size < 1 or (share <= 0).any():
        raise DataError(f"shares must be positive, got {list(shares)}", field="shares")
    share = share / share.sum()
    params = synthetic_parameters(features, correlation, 1.0, sine_terms, seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    count = share.size
    own = rng.standard_normal((2, count, features))
    own /= np.linalg.norm(own, axis=2, keepdims=True)
    keep = np.sqrt(1.0 - shift**2)
    weights = keep * np.stack([params.w1, params.w2])[:, None, :] + shift * own  # [2, K, d]
    offsets = bias * rng.standard_normal(count)
    domain = rng.choice(count, size=rows, p=share)
    x = rng.standard_normal((rows, features))
    noise = rng.normal(0.0, np.sqrt(NOISE_VARIANCE), size=(rows, 2))
    columns: dict[str, object] = {f"x{i}": x[:, i] for i in range(features)}
    columns["domain"] = np.array(domain_names(count), dtype=object)[domain]
    for i, label in enumerate(("y1", "y2")):
        linear = np.einsum("nd,nd->n", x, weights[i][domain])
        y = _nonlinear_label(linear, params, noise[:, i]) + offsets[domain]
        columns[label] = (y > np.median(y)).astype(np.float64) if binary else y
    return pd.DataFrame(columns)


def multi_domain_spec(count: int = len(DEFAULT_SHARES)) -> DomainSpec:
    """The ``domains`` section for :func:`make_multi_domain`'s frame."""
    return DomainSpec(column="domain", values=domain_names(count))
