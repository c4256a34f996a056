"""Two regression tasks with a controlled correlation: the MMoE paper's synthetic data.

Ma et al., "Modeling Task Relationships in Multi-task Learning with Multi-gate Mixture-of-
Experts", KDD 2018, section 3.2: orthonormal u1, u2 in R^d; w1 = c·u1,
w2 = c·(p·u1 + sqrt(1 - p²)·u2); x ~ N(0, I);
y_i = w_iᵀx + Σ_{j=1..m} sin(α_j·w_iᵀx + β_j) + ε_i with ε_i ~ N(0, 0.01) (variance, so the
noise std is 0.1). α_j, β_j ~ N(0, 1) are shared by both tasks. The cosine of w1 and w2 is p,
so the correlation of the linear parts is p and the label correlation falls as p does.

The label correlation is not p: the sines are not linear, so it is below p for 0 < p < 1
(:func:`label_correlation`, exact: 0.79 / 0.31 at p = 0.9 / 0.5 on average over seeds 0..199,
5-95% 0.13 to 0.48 at p = 0.5), about 0.99 at p = 1 (the noise) and 0 at p = 0.

The paper gives no label scale: with α, β ~ N(0, 1) and c = 1 a label's variance ranges from
0.13 to 19 between seeds (median 2.0, 5-95% 0.42 to 8.8, seeds 0..199), so an MSE in label
units mixes the model's error with the seed's label scale.
``standardize=True`` divides each label, after subtracting its mean, by its standard deviation,
both exact for x ~ N(0, I) (:func:`label_moments`), so an MSE is a share of the label variance
(1 - R²) and comparable across seeds and correlations.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from automtl.config import TaskSpec, TaskType
from automtl.data.errors import DataError

NOISE_VARIANCE = 0.01


@dataclass(frozen=True)
class SyntheticParameters:
    """The random parameters of one synthetic dataset (same seed, same parameters)."""

    w1: np.ndarray
    w2: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray


def _generators(seed: int) -> list[np.random.Generator]:
    # Independent streams: the weights do not depend on the number of rows drawn.
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]


def synthetic_parameters(features: int = 100, correlation: float = 0.5, scale: float = 1.0,
                         sine_terms: int = 10, seed: int = 0) -> SyntheticParameters:
    """w1, w2 (cosine = ``correlation``, norm = ``scale``) and the shared α, β of the recipe."""
    if features < 2:
        raise DataError(f"features must be >= 2 (two orthogonal directions), got {features}",
                        field="features")
    if not -1.0 <= correlation <= 1.0:
        raise DataError(f"correlation must be in [-1, 1], got {correlation}",
                        field="correlation")
    if sine_terms < 0:
        raise DataError(f"sine_terms must be >= 0, got {sine_terms}", field="sine_terms")
    weights_rng, sine_rng, _, _ = _generators(seed)
    basis, _ = np.linalg.qr(weights_rng.standard_normal((features, 2)))
    u1, u2 = basis[:, 0], basis[:, 1]
    w1 = scale * u1
    w2 = scale * (correlation * u1 + np.sqrt(1.0 - correlation**2) * u2)
    alpha = sine_rng.standard_normal(sine_terms)
    beta = sine_rng.standard_normal(sine_terms)
    return SyntheticParameters(w1=w1, w2=w2, alpha=alpha, beta=beta)


def label_moments(params: SyntheticParameters) -> tuple[float, float]:
    """Exact mean and standard deviation of a label over x ~ N(0, I), noise included.

    Both labels share them: z = wᵀx ~ N(0, c²) for either task (‖w1‖ = ‖w2‖ = c). From
    E[sin(az + b)] = sin(b)·e^(-a²c²/2), E[z·sin(az + b)] = a·c²·cos(b)·e^(-a²c²/2) and
    E[sin(az + b)·sin(a'z + b')] = ½[cos(b - b')·e^(-(a - a')²c²/2)
    - cos(b + b')·e^(-(a + a')²c²/2)].
    """
    c2 = float(params.w1 @ params.w1)
    alpha, beta = params.alpha, params.beta
    mean = float(np.sum(np.sin(beta) * np.exp(-alpha**2 * c2 / 2)))
    linear_sine = float(np.sum(alpha * c2 * np.cos(beta) * np.exp(-alpha**2 * c2 / 2)))
    a_minus = alpha[:, None] - alpha[None, :]
    a_plus = alpha[:, None] + alpha[None, :]
    b_minus = beta[:, None] - beta[None, :]
    b_plus = beta[:, None] + beta[None, :]
    sine_sine = float(np.sum(0.5 * (np.cos(b_minus) * np.exp(-a_minus**2 * c2 / 2)
                                    - np.cos(b_plus) * np.exp(-a_plus**2 * c2 / 2))))
    second_moment = c2 + 2.0 * linear_sine + sine_sine + NOISE_VARIANCE
    return mean, float(np.sqrt(second_moment - mean**2))


def label_correlation(params: SyntheticParameters) -> float:
    """Exact Pearson correlation of the two labels over x ~ N(0, I), noise included.

    z_i = w_iᵀx are N(0, c²) with correlation p = w1ᵀw2 / c². By Stein's lemma
    E[z1·sin(a·z2 + b)] = p·c²·a·cos(b)·e^(-a²c²/2), and
    E[sin(a·z1 + b)·sin(a'·z2 + b')] = ½[cos(b - b')·e^(-c²(a² + a'² - 2aa'p)/2)
    - cos(b + b')·e^(-c²(a² + a'² + 2aa'p)/2)]; at p = 1 this is :func:`label_moments`'s
    second moment less the noise. Monotone in p for these sines, but not p: about 0.31 at
    p = 0.5 with α, β ~ N(0, 1), c = 1."""
    c2 = float(params.w1 @ params.w1)
    p = float(params.w1 @ params.w2) / c2
    alpha, beta = params.alpha, params.beta
    mean, std = label_moments(params)
    linear_sine = 2.0 * p * c2 * float(np.sum(alpha * np.cos(beta) * np.exp(-alpha**2 * c2 / 2)))
    a, a2 = alpha[:, None], alpha[None, :]
    b, b2 = beta[:, None], beta[None, :]
    sine_sine = float(np.sum(0.5 * (
        np.cos(b - b2) * np.exp(-c2 * (a**2 + a2**2 - 2 * a * a2 * p) / 2)
        - np.cos(b + b2) * np.exp(-c2 * (a**2 + a2**2 + 2 * a * a2 * p) / 2))))
    return (p * c2 + linear_sine + sine_sine - mean**2) / std**2


def _nonlinear_label(linear: np.ndarray, params: SyntheticParameters,
                     noise: np.ndarray) -> np.ndarray:
    sines = np.sin(np.outer(linear, params.alpha) + params.beta).sum(axis=1)
    return linear + sines + noise


def draw_synthetic(params: SyntheticParameters, rows: int, rng: np.random.Generator,
                   standardize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Fresh rows of one synthetic dataset: ``x`` ``[rows, d]`` ~ N(0, I) and labels
    ``[rows, 2]`` (y1, y2) by the recipe of :func:`make_synthetic` with ``params``, drawn from
    ``rng`` (float64). For training on a stream (a new batch every step, as many rows as the
    steps need, no epochs); ``standardize`` as in :func:`make_synthetic`."""
    if rows < 1:
        raise DataError(f"rows must be >= 1, got {rows}", field="rows")
    x = rng.standard_normal((rows, params.w1.shape[0]))
    noise = rng.normal(0.0, np.sqrt(NOISE_VARIANCE), size=(rows, 2))
    labels = np.stack([_nonlinear_label(x @ params.w1, params, noise[:, 0]),
                       _nonlinear_label(x @ params.w2, params, noise[:, 1])], axis=1)
    if standardize:
        mean, std = label_moments(params)
        labels = (labels - mean) / std
    return x, labels


def make_synthetic(rows: int = 20000, features: int = 100, correlation: float = 0.5,
                   scale: float = 1.0, sine_terms: int = 10, seed: int = 0,
                   binary: bool = False, categorical: int = 0,
                   buckets: int = 8, standardize: bool = False) -> pd.DataFrame:
    """A frame with ``x0..x{features-1}``, labels ``y1``, ``y2`` (MMoE paper, section 3.2).

    Paper names: d = ``features``, p = ``correlation``, c = ``scale``, m = ``sine_terms``.
    ``binary`` thresholds each label at its median (1 above it, about half the rows).
    ``standardize`` maps each regression label to mean 0, variance 1 with the exact moments of
    :func:`label_moments` (the same affine map for any ``rows``; the binary labels do not
    change).
    ``categorical`` adds columns ``c0..`` holding ``x0..`` cut into ``buckets`` equal-probability
    bins of N(0, 1) (strings ``"b0"``..), to exercise embeddings; the labels do not change.
    """
    if rows < 1:
        raise DataError(f"rows must be >= 1, got {rows}", field="rows")
    if not 0 <= categorical <= features:
        raise DataError(f"categorical must be in [0, features], got {categorical}",
                        field="categorical")
    if buckets < 2:
        raise DataError(f"buckets must be >= 2, got {buckets}", field="buckets")
    params = synthetic_parameters(features, correlation, scale, sine_terms, seed)
    _, _, x_rng, noise_rng = _generators(seed)
    x = x_rng.standard_normal((rows, features))
    noise = noise_rng.normal(0.0, np.sqrt(NOISE_VARIANCE), size=(rows, 2))
    y1 = _nonlinear_label(x @ params.w1, params, noise[:, 0])
    y2 = _nonlinear_label(x @ params.w2, params, noise[:, 1])
    if standardize:
        mean, std = label_moments(params)
        y1, y2 = (y1 - mean) / std, (y2 - mean) / std
    if binary:
        y1 = (y1 > np.median(y1)).astype(np.float64)
        y2 = (y2 > np.median(y2)).astype(np.float64)
    columns: dict[str, np.ndarray] = {f"x{i}": x[:, i] for i in range(features)}
    if categorical:
        edges = np.array([NormalDist().inv_cdf(k / buckets) for k in range(1, buckets)])
        names = np.array([f"b{i}" for i in range(buckets)], dtype=object)
        for i in range(categorical):
            columns[f"c{i}"] = names[np.searchsorted(edges, x[:, i])]
    columns["y1"] = y1
    columns["y2"] = y2
    return pd.DataFrame(columns)


#: the label columns of :func:`make_synthetic` and
#: :func:`~automtl.data.multi_domain.make_multi_domain`
LABEL_COLUMNS: tuple[str, ...] = ("y1", "y2")


def synthetic_tasks(binary: bool = False) -> list[TaskSpec]:
    """The two tasks of :func:`make_synthetic` (labels ``y1``, ``y2``)."""
    kind: TaskType = "binary" if binary else "regression"
    return [TaskSpec(name="y1", type=kind), TaskSpec(name="y2", type=kind)]
