"""Practitioners' tables (issue 19): integer codes, capped vocabularies, missing values, label
scaling, per-task checks before any trial, stratified splits and sample weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from automtl.config import TaskSpec
from automtl.data import DataError, TabularDataset, detect_schema, encode_frame
from automtl.data.encode import fit_vocabulary, unscale_labels
from automtl.data.io import infer_feature


def _codes_frame(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """10 float columns and integer code columns of cardinality 10 to 1,000, a binary and a
    regression task (issue 19 item 1's table, smaller)."""
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {f"f{i}": rng.normal(size=rows) for i in range(10)}
    for i, card in enumerate((10, 50, 200)):
        columns[f"c{i}"] = rng.integers(0, card, rows)
    columns["user_id"] = rng.integers(0, 10**6, rows)  # id-like name, mostly unique values
    columns["clicks_7d"] = rng.integers(-5, 5, rows)  # negative: a number, not a code
    columns["views"] = rng.integers(0, 10**6, rows)  # many distinct values: a number
    columns["y"] = (rng.random(rows) < 0.3).astype(float)
    columns["watch"] = rng.exponential(300.0, rows)
    return pd.DataFrame(columns)


TASKS = [TaskSpec(name="y"), TaskSpec(name="watch", type="regression")]


def test_integer_codes_and_id_names_are_categorical_with_reasons() -> None:
    ds = TabularDataset(_codes_frame(), TASKS)
    assert ds.schema.categorical_names == ["c0", "c1", "c2", "user_id"]
    assert ds.schema.numeric_names == [f"f{i}" for i in range(10)] + ["clicks_7d", "views"]
    decisions = ds.feature_decisions
    assert "integer codes: 10 distinct" in decisions["c0"].reason
    assert decisions["user_id"].reason == "integer values with an id-like name"
    assert "negative values" in decisions["clicks_7d"].reason
    assert decisions["views"].kind == "numeric" and "distinct values" in decisions["views"].reason
    assert decisions["f0"].reason == "float values"
    summary = ds.summary()
    assert {f["name"]: f["kind"] for f in summary["features"]}["c1"] == "categorical"
    assert {f["name"]: f.get("vocabulary") for f in summary["features"]}["c0"] == 10


def test_explicit_lists_override_inference() -> None:
    ds = TabularDataset(_codes_frame(), TASKS, numeric=["c0", "f0"], categorical=["views"])
    assert ds.schema.numeric_names == ["c0", "f0"] and ds.schema.categorical_names == ["views"]
    assert ds.feature_decisions["c0"].reason == "listed as numeric"


def test_detect_schema_reports_kind_reason_and_distinct() -> None:
    schema = detect_schema(_codes_frame(500))
    by_name = {c["name"]: c for c in schema["columns"]}
    assert by_name["c0"]["kind"] == "categorical" and by_name["c0"]["distinct"] == 10
    assert by_name["c0"]["reason"].startswith("integer codes")
    assert by_name["user_id"]["kind"] == "categorical"
    assert by_name["f3"]["kind"] == "numeric" and by_name["f3"]["reason"] == "float values"


@pytest.mark.parametrize("name,categorical", [("item_id", True), ("itemId", True),
                                              ("city_code", True), ("id", True),
                                              ("slot_idx", True), ("paid", False),
                                              ("video", False)])
def test_id_like_names(name: str, categorical: bool) -> None:
    series = pd.Series(np.arange(1000) * 7 - 3, name=name)  # negative and all distinct
    assert (infer_feature(series).kind == "categorical") is categorical


def test_integral_float_id_column_with_gaps_is_categorical() -> None:
    series = pd.Series([1.0, 2.0, np.nan, 4.0] * 50, name="shop_id")
    assert infer_feature(series).kind == "categorical"
    assert infer_feature(pd.Series([1.5, 2.0] * 50, name="shop_id")).kind == "numeric"


def test_vocabulary_cap_keeps_the_most_frequent_values() -> None:
    series = pd.Series(["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 1 + ["e"] * 1)
    assert fit_vocabulary(series, max_size=2) == ["a", "b"]
    assert fit_vocabulary(series, min_frequency=2) == ["a", "b", "c"]
    assert fit_vocabulary(series) == ["a", "b", "c", "d", "e"]
    frame = _codes_frame()
    ds = TabularDataset(frame, TASKS, max_vocabulary=20)
    by_name = {c.name: c for c in ds.schema.categorical}
    assert len(by_name["c2"].vocabulary) == 20 and len(by_name["c0"].vocabulary) == 10
    assert int(ds.train.categorical.max()) <= 20  # rarer values are out of vocabulary (0)
    with pytest.raises(DataError, match="max_vocabulary"):
        fit_vocabulary(series, max_size=0)


def test_missing_numeric_values_are_imputed_with_an_indicator() -> None:
    frame = _codes_frame(600)
    frame.loc[frame.index[::4], "f1"] = np.nan
    ds = TabularDataset(frame, TASKS, seed=1)
    names = [f.name for f in ds.schema.numeric]
    assert names[names.index("f1") + 1] == "f1__missing"
    f1 = ds.schema.numeric[names.index("f1")]
    train = frame["f1"].to_numpy()[ds.split_rows["train"]]
    assert f1.fill == pytest.approx(np.nanmean(train)) == pytest.approx(f1.mean)
    assert f1.std == pytest.approx(np.nanstd(train))
    column, indicator = names.index("f1"), names.index("f1__missing")
    missing = torch.from_numpy(np.isnan(train))
    assert torch.equal(ds.train.numeric[:, indicator], missing.float())
    assert ds.train.numeric[missing, column].abs().max() < 1e-6  # the mean standardises to 0
    assert torch.isfinite(ds.train.numeric).all()
    assert "f1" not in ds.schema.numeric_names or "f1__missing" not in ds.schema.numeric_names
    # new data: a missing value in a column without an indicator is imputed too
    new = frame.head(3).copy()
    new.loc[new.index[0], "f2"] = np.nan
    encoded = encode_frame(new, ds.schema, ds.tasks, labels=False)
    f2 = ds.schema.numeric[names.index("f2")]
    assert float(encoded.numeric[0, names.index("f2")]) == pytest.approx(
        (f2.fill - f2.mean) / f2.std)
    with pytest.raises(DataError, match="'f1'.*missing") as err:
        TabularDataset(frame, TASKS, missing="error")
    assert err.value.column == "f1"


def test_regression_labels_are_standardised_and_metrics_use_original_units() -> None:
    from automtl.training.metrics import split_metrics

    ds = TabularDataset(_codes_frame(), TASKS)
    scaling = ds.schema.label_scaling("watch")
    assert scaling is not None and scaling.transform == "none"
    watch = ds.train.labels[ds.train.mask[:, 1], 1]
    assert float(watch.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(watch.std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)
    # a prediction equal to the scaled label is perfect in original units: mse 0, r2 1
    predictions = {"y": torch.zeros(len(ds.valid)), "watch": ds.valid.labels[:, 1].clone()}
    metrics = split_metrics(predictions, ds.valid, ds.tasks, ds.schema)["watch"]
    assert metrics["mse"] == pytest.approx(0.0, abs=1e-6) and metrics["r2"] == pytest.approx(1.0)
    # predicting the train mean (0 in training units) gives the label variance in seconds^2
    zero = split_metrics({"y": torch.zeros(len(ds.valid)), "watch": torch.zeros(len(ds.valid))},
                         ds.valid, ds.tasks, ds.schema)["watch"]
    raw = _codes_frame()["watch"].to_numpy()[ds.split_rows["valid"]]
    assert zero["mse"] == pytest.approx(float(np.mean((raw - scaling.mean) ** 2)), rel=1e-5)


def test_log1p_transform_and_its_errors() -> None:
    task = TaskSpec(name="watch", type="regression", transform="log1p")
    ds = TabularDataset(_codes_frame(), [TaskSpec(name="y"), task])
    scaling = ds.schema.label_scaling("watch")
    assert scaling is not None and scaling.transform == "log1p"
    raw = _codes_frame()["watch"].to_numpy()[ds.split_rows["train"]]
    assert scaling.mean == pytest.approx(np.log1p(raw).mean())
    back = unscale_labels(ds.train.labels[:, 1].double().numpy(), scaling)
    np.testing.assert_allclose(back, raw, rtol=1e-4)
    frame = _codes_frame()
    frame.loc[5, "watch"] = -1.0
    with pytest.raises(DataError, match="log1p needs labels >= 0") as err:
        TabularDataset(frame, [TaskSpec(name="y"), task])
    assert err.value.column == "watch"
    with pytest.raises(ValueError, match="transform"):
        TaskSpec(name="y", type="binary", transform="log1p")


def _rare_frame(rows: int = 600, positives: int = 6, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    purchase = np.zeros(rows)
    purchase[rng.choice(rows, positives, replace=False)] = 1.0
    return pd.DataFrame({"x": rng.normal(size=rows), "click": rng.integers(0, 2, rows),
                         "purchase": purchase})


RARE_TASKS = [TaskSpec(name="click"), TaskSpec(name="purchase")]


def test_one_class_in_a_split_is_refused_naming_task_split_and_counts() -> None:
    """Issue 19 item 3: 600 rows, 6 positives, all in the train rows."""
    frame = _rare_frame()
    split = np.where(np.arange(600) < 480, "train", np.where(np.arange(600) < 540, "valid",
                                                             "test"))
    frame["split"] = split
    frame.loc[frame.index[:6], "purchase"] = 1.0
    frame.loc[frame.index[6:], "purchase"] = 0.0
    with pytest.raises(DataError) as err:
        TabularDataset(frame, RARE_TASKS, split_column="split")
    message = str(err.value)
    assert "task 'purchase'" in message and "only class 0 in the valid split" in message
    assert "train 480 labelled (6 positive, 474 negative)" in message
    assert "valid 60 labelled (0 positive, 60 negative)" in message
    assert err.value.column == "purchase" and err.value.field == "tasks"


def test_no_labelled_rows_in_a_split_is_refused() -> None:
    frame = _rare_frame()
    frame["split"] = np.where(np.arange(600) < 500, "train", "valid")
    frame.loc[frame.index[500:], "click"] = np.nan
    with pytest.raises(DataError, match="task 'click'.*no labelled rows in the valid split"):
        TabularDataset(frame, RARE_TASKS, split_column="split")


@pytest.mark.parametrize("seed", range(5))
def test_stratified_split_keeps_a_rare_task_in_every_split(seed: int) -> None:
    """A 5% task (and 6 positives in 600 rows) keeps positives in train, valid and test."""
    for positives in (6, 30):
        ds = TabularDataset(_rare_frame(positives=positives, seed=seed), RARE_TASKS, seed=seed)
        assert ds.stratified_on == "purchase"
        counts = {(c.task, c.split): c.positives for c in ds.task_counts}
        assert all(counts[("purchase", s)] >= 1 for s in ("train", "valid", "test"))
        assert sum(counts[("purchase", s)] for s in ("train", "valid", "test")) == positives
        sizes = {name: len(rows) for name, rows in ds.split_rows.items()}
        assert sizes == {"train": 480, "valid": 60, "test": 60}


def test_stratification_handles_missing_labels_as_their_own_class() -> None:
    frame = _rare_frame(positives=30)
    frame.loc[frame.index[::3], "purchase"] = np.nan  # conversion exists only after a click
    ds = TabularDataset(frame, RARE_TASKS)
    assert ds.stratified_on == "purchase"
    labelled = {c.split: c.labelled for c in ds.task_counts if c.task == "purchase"}
    assert labelled["valid"] == pytest.approx(40, abs=1) and labelled["test"] == pytest.approx(
        40, abs=1)


def test_sample_weights_reach_the_loss_and_the_metrics() -> None:
    from automtl.training.losses import masked_loss
    from automtl.training.metrics import split_metrics

    frame = _codes_frame(600)
    frame["dwell"] = np.random.default_rng(3).exponential(2.0, 600)
    frame.loc[frame.index[:10], "dwell"] = np.nan  # missing weight = 0
    tasks = [TaskSpec(name="y", weight="dwell"), TaskSpec(name="watch", type="regression")]
    ds = TabularDataset(frame, tasks)
    assert "dwell" not in ds.schema.numeric_names  # a weight column is never a feature
    assert ds.train.weights is not None and ds.train.weights.shape == ds.train.labels.shape
    assert (ds.train.weights[:, 1] == 1).all()
    expected = frame["dwell"].fillna(0.0).to_numpy()[ds.split_rows["train"]]
    np.testing.assert_allclose(ds.train.weights[:, 0].numpy(), expected, rtol=1e-6)
    logits = torch.linspace(-2, 2, len(ds.train))
    weight = ds.train.weights[:, 0]
    loss = masked_loss(logits, ds.train.labels[:, 0], ds.train.mask[:, 0], "binary", weight)
    per_row = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, ds.train.labels[:, 0], reduction="none")
    assert float(loss) == pytest.approx(float((per_row * weight).sum() / weight.sum()), rel=1e-5)
    predictions = {"y": torch.linspace(-1, 1, len(ds.valid)),
                   "watch": torch.zeros(len(ds.valid))}
    weighted = split_metrics(predictions, ds.valid, ds.tasks, ds.schema)["y"]["logloss"]
    plain = split_metrics(predictions, ds.valid, [TaskSpec(name="y"), tasks[1]],
                          ds.schema)["y"]["logloss"]
    assert weighted != pytest.approx(plain)
    frame.loc[frame.index[20], "dwell"] = -1.0
    with pytest.raises(DataError, match="weight column 'dwell'.*negative"):
        TabularDataset(frame, tasks)
