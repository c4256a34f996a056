"""The MMoE paper's synthetic generator (Ma et al. KDD 2018, section 3.2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automtl.data import DataError, TabularDataset, make_synthetic, synthetic_parameters
from automtl.data.synthetic import (
    NOISE_VARIANCE,
    draw_synthetic,
    label_correlation,
    label_moments,
    synthetic_tasks,
)


def test_columns_and_same_seed_same_frame() -> None:
    a = make_synthetic(rows=500, features=8, correlation=0.3, seed=5)
    b = make_synthetic(rows=500, features=8, correlation=0.3, seed=5)
    c = make_synthetic(rows=500, features=8, correlation=0.3, seed=6)
    assert list(a.columns) == [f"x{i}" for i in range(8)] + ["y1", "y2"]
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["y1"], c["y1"])


def test_default_is_the_paper_recipe() -> None:
    frame = make_synthetic(rows=300, seed=0)
    assert frame.shape == (300, 102)


def test_weights_have_norm_c_and_cosine_p() -> None:
    params = synthetic_parameters(features=20, correlation=0.7, scale=2.5, seed=1)
    assert np.linalg.norm(params.w1) == pytest.approx(2.5)
    assert np.linalg.norm(params.w2) == pytest.approx(2.5)
    cosine = params.w1 @ params.w2 / (np.linalg.norm(params.w1) * np.linalg.norm(params.w2))
    assert cosine == pytest.approx(0.7)
    assert params.alpha.shape == (10,) and params.beta.shape == (10,)


def test_labels_follow_the_formula_up_to_the_noise() -> None:
    rows, features = 4000, 12
    frame = make_synthetic(rows=rows, features=features, correlation=0.4, sine_terms=5, seed=2)
    params = synthetic_parameters(features=features, correlation=0.4, sine_terms=5, seed=2)
    x = frame[[f"x{i}" for i in range(features)]].to_numpy()
    for w, label in ((params.w1, "y1"), (params.w2, "y2")):
        linear = x @ w
        clean = linear + np.sin(np.outer(linear, params.alpha) + params.beta).sum(axis=1)
        residual = frame[label].to_numpy() - clean
        assert abs(residual.mean()) < 0.01
        assert residual.std() == pytest.approx(np.sqrt(NOISE_VARIANCE), rel=0.05)


def test_correlation_of_linear_parts_and_labels_increases_with_p() -> None:
    features, rows = 16, 20000
    linear_corr, label_corr = [], []
    for p in (0.1, 0.5, 0.9):
        frame = make_synthetic(rows=rows, features=features, correlation=p, seed=3)
        params = synthetic_parameters(features=features, correlation=p, seed=3)
        x = frame[[f"x{i}" for i in range(features)]].to_numpy()
        corr = np.corrcoef(x @ params.w1, x @ params.w2)[0, 1]
        assert corr == pytest.approx(p, abs=0.03)
        linear_corr.append(corr)
        label_corr.append(np.corrcoef(frame["y1"], frame["y2"])[0, 1])
    assert linear_corr[0] < linear_corr[1] < linear_corr[2]
    assert label_corr[0] < label_corr[2]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_label_correlation_falls_from_one_to_zero_as_p_does(seed: int) -> None:
    # the MMoE benchmark's sweep (p = 1.0 -> 0.5 -> 0.0) at d = 100: identical tasks up to the
    # noise, then partly related, then uncorrelated labels
    corr = {}
    for p in (1.0, 0.5, 0.0):
        frame = make_synthetic(rows=20000, features=100, correlation=p, seed=seed,
                               standardize=True)
        corr[p] = np.corrcoef(frame["y1"], frame["y2"])[0, 1]
    assert corr[1.0] > 0.98
    assert 0.05 < corr[0.5] < corr[1.0] - 0.3
    assert abs(corr[0.0]) < 0.04


@pytest.mark.parametrize(("seed", "scale"), [(0, 1.0), (1, 1.0), (4, 2.0)])
def test_standardized_labels_use_the_exact_moments(seed: int, scale: float) -> None:
    raw = make_synthetic(rows=100_000, features=20, correlation=0.3, scale=scale, seed=seed)
    std = make_synthetic(rows=100_000, features=20, correlation=0.3, scale=scale, seed=seed,
                         standardize=True)
    mean, sd = label_moments(synthetic_parameters(features=20, correlation=0.3, scale=scale,
                                                  seed=seed))
    assert sd > 0.5  # the raw labels are not unit-scaled: the map is not an identity
    for label in ("y1", "y2"):
        # the sample moments of the raw labels agree with the exact ones ...
        assert raw[label].mean() == pytest.approx(mean, abs=0.03 * sd)
        assert raw[label].std() == pytest.approx(sd, rel=0.02)
        # ... and standardising is that one affine map, so the result has mean 0, variance 1
        np.testing.assert_allclose(std[label], (raw[label] - mean) / sd, rtol=1e-12)
        assert abs(std[label].mean()) < 0.03
        assert std[label].std() == pytest.approx(1.0, rel=0.02)
    features = [f"x{i}" for i in range(20)]
    pd.testing.assert_frame_equal(std[features], raw[features])


def test_standardizing_leaves_binary_labels_alone() -> None:
    plain = make_synthetic(rows=1001, features=10, binary=True, seed=4)
    standardized = make_synthetic(rows=1001, features=10, binary=True, seed=4,
                                  standardize=True)
    pd.testing.assert_frame_equal(plain, standardized)


def test_binarisation_splits_at_the_median() -> None:
    frame = make_synthetic(rows=2001, features=10, binary=True, seed=4)
    for label in ("y1", "y2"):
        assert set(frame[label].unique()) == {0.0, 1.0}
        assert frame[label].mean() == pytest.approx(0.5, abs=0.001)
    ds = TabularDataset(frame, synthetic_tasks(binary=True))
    assert [t.type for t in ds.tasks] == ["binary", "binary"]


def test_categorical_columns_bucketise_inputs() -> None:
    frame = make_synthetic(rows=4000, features=6, categorical=2, buckets=4, seed=0)
    assert list(frame.columns[6:8]) == ["c0", "c1"]
    assert set(frame["c0"]) == {"b0", "b1", "b2", "b3"}
    # equal-probability bins of N(0, 1): each bucket holds about a quarter of the rows
    assert frame["c0"].value_counts(normalize=True).between(0.2, 0.3).all()
    # buckets are ordered by x0
    means = frame.groupby("c0")["x0"].mean()
    assert list(means.sort_values().index) == ["b0", "b1", "b2", "b3"]
    plain = make_synthetic(rows=4000, features=6, seed=0)
    pd.testing.assert_series_equal(frame["y1"], plain["y1"])
    ds = TabularDataset(frame, synthetic_tasks())
    assert ds.schema.categorical_names == ["c0", "c1"]


def test_invalid_parameters_name_the_field() -> None:
    with pytest.raises(DataError) as err:
        make_synthetic(rows=10, correlation=1.5)
    assert err.value.field == "correlation"
    with pytest.raises(DataError) as err:
        make_synthetic(rows=10, features=1)
    assert err.value.field == "features"


def test_draw_synthetic_streams_fresh_rows_of_the_same_tasks() -> None:
    params = synthetic_parameters(features=12, correlation=0.4, scale=3.0, seed=2)
    rng = np.random.default_rng(0)
    x, y = draw_synthetic(params, 40_000, rng)
    x2, _ = draw_synthetic(params, 40_000, rng)
    assert x.shape == (40_000, 12) and y.shape == (40_000, 2)
    assert not np.allclose(x[:10], x2[:10])  # the next call draws new rows
    # the labels follow the recipe of make_synthetic with these weights (noise std 0.1) ...
    for i, w in enumerate((params.w1, params.w2)):
        z = x @ w
        exact = z + np.sin(np.outer(z, params.alpha) + params.beta).sum(axis=1)
        residual = y[:, i] - exact
        assert residual.std() == pytest.approx(np.sqrt(NOISE_VARIANCE), rel=0.05)
    # ... and standardising uses the exact moments: mean 0, variance 1 over fresh rows
    _, z = draw_synthetic(params, 40_000, np.random.default_rng(1), standardize=True)
    assert np.abs(z.mean(axis=0)).max() < 0.05
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=0.03)
    with pytest.raises(DataError) as err:
        draw_synthetic(params, 0, rng)
    assert err.value.field == "rows"


@pytest.mark.parametrize(("correlation", "scale", "seed"),
                         [(1.0, 1.0, 0), (0.9, 1.0, 1), (0.5, 1.0, 3), (0.5, 2.0, 7),
                          (0.0, 1.0, 2), (-0.4, 1.0, 5)])
def test_label_correlation_is_the_sample_correlation_and_not_p(correlation, scale, seed) -> None:
    """The exact label correlation agrees with 200,000 sampled rows; for 0 < p < 1 it is
    below p (the sines), the MMoE paper's correlation is the weights' cosine, not this."""
    params = synthetic_parameters(features=20, correlation=correlation, scale=scale, seed=seed)
    _, labels = draw_synthetic(params, 200_000, np.random.default_rng(seed))
    exact = label_correlation(params)
    assert exact == pytest.approx(np.corrcoef(labels.T)[0, 1], abs=0.01)
    if 0.0 < correlation < 1.0:
        assert exact < correlation - 0.05
    if correlation == 1.0:  # identical labels up to the noise: 1 - 0.01 / label variance
        assert exact == pytest.approx(1 - NOISE_VARIANCE / label_moments(params)[1] ** 2)
