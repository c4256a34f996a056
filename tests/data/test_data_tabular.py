"""TabularDataset: train statistics, vocabularies, masks, splits, files, errors, encode_frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from automtl.config import TaskSpec
from automtl.data import DataError, SplitTensors, TabularDataset, detect_schema, encode_frame

TASKS = [TaskSpec(name="click", type="binary"), TaskSpec(name="watch", type="regression")]


def _frame(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    click = rng.integers(0, 2, rows).astype(float)
    click[::7] = np.nan
    watch = rng.normal(10.0, 3.0, rows)
    watch[::5] = np.nan
    return pd.DataFrame({
        "age": rng.normal(40.0, 10.0, rows),
        "price": rng.exponential(5.0, rows),
        "city": rng.choice(["paris", "rome", "oslo"], rows),
        "device": pd.Categorical(rng.choice(["ios", "android"], rows)),
        "click": click,
        "watch": watch,
    })


def test_features_are_inferred_from_dtypes() -> None:
    ds = TabularDataset(_frame(), TASKS)
    assert ds.schema.numeric_names == ["age", "price"]
    assert ds.schema.categorical_names == ["city", "device"]
    assert ds.task_names == ("click", "watch")
    assert ds.train.numeric.dtype == torch.float32
    assert ds.train.categorical.dtype == torch.int64
    assert ds.train.labels.shape == (len(ds.train), 2)


def test_standardisation_uses_train_statistics_only() -> None:
    frame = _frame(400)
    ds = TabularDataset(frame, TASKS, seed=3)
    train = frame.iloc[ds.split_rows["train"]]
    age = ds.schema.numeric[0]
    assert age.mean == pytest.approx(train["age"].mean())
    assert age.std == pytest.approx(train["age"].std(ddof=0))
    assert age.mean != pytest.approx(frame["age"].mean(), abs=1e-9)
    # Train columns are exactly standardised; the other splits use the train statistics.
    assert ds.train.numeric.mean(0).abs().max().item() < 1e-5
    expected_valid = (frame["age"].to_numpy()[ds.split_rows["valid"]] - age.mean) / age.std
    np.testing.assert_allclose(ds.valid.numeric[:, 0].numpy(), expected_valid, rtol=1e-5)


def test_vocabulary_from_train_split_and_unseen_categories_map_to_zero() -> None:
    frame = pd.DataFrame({
        "color": ["red", "blue", "red", "green", "blue", "purple"],
        "split": ["train", "train", "train", "valid", "valid", "test"],
        "y": [0, 1, 0, 1, 0, 1],
    })
    ds = TabularDataset(frame, [TaskSpec(name="y")], split_column="split")
    assert ds.schema.categorical[0].vocabulary == ["blue", "red"]  # green/purple unseen
    assert ds.train.categorical[:, 0].tolist() == [2, 1, 2]
    assert ds.valid.categorical[:, 0].tolist() == [0, 1]
    assert ds.test is not None and ds.test.categorical[:, 0].tolist() == [0]


def test_integral_floats_and_ints_share_a_category() -> None:
    """A code column read as int in training and as float (with NaN) later maps identically."""
    schema_frame = pd.DataFrame({"code": [3, 5, 7, 3, 5], "y": [0, 1, 0, 1, 0],
                                 "split": ["train", "train", "train", "valid", "valid"]})
    ds = TabularDataset(schema_frame, [TaskSpec(name="y")], categorical=["code"],
                        split_column="split")
    assert ds.schema.categorical[0].vocabulary == ["3", "5", "7"]
    new = pd.DataFrame({"code": [5.0, np.nan, 9.0], "y": [1, 0, 1]})
    assert encode_frame(new, ds.schema, ds.tasks).categorical[:, 0].tolist() == [2, 0, 0]


def test_nan_labels_give_mask_false_and_label_zero() -> None:
    frame = _frame(100)
    ds = TabularDataset(frame, TASKS, valid_fraction=0.2, test_fraction=0.2)
    for name, split in ds.splits.items():
        raw = frame[["click", "watch"]].to_numpy()[ds.split_rows[name]]
        np.testing.assert_array_equal(split.mask.numpy(), ~np.isnan(raw))
        assert (split.labels[~split.mask] == 0).all()
        scaling = ds.schema.label_scaling("watch")
        assert scaling is not None and ds.schema.label_scaling("click") is None
        expected = raw.copy()
        expected[:, 1] = (raw[:, 1] - scaling.mean) / scaling.std  # regression: standardised
        np.testing.assert_allclose(split.labels[split.mask].numpy(),
                                   expected[~np.isnan(raw)].astype(np.float32), rtol=1e-5)


def test_bool_binary_labels_with_missing_values() -> None:
    frame = pd.DataFrame({"x": np.arange(6.0), "y": [True, False, None, True, False, True]})
    ds = TabularDataset(frame, [TaskSpec(name="y")], split_column=None, valid_fraction=0.34,
                        test_fraction=0.0, seed=1)
    labels = torch.cat([ds.train.labels, ds.valid.labels])[:, 0]
    mask = torch.cat([ds.train.mask, ds.valid.mask])[:, 0]
    assert int(mask.sum()) == 5 and set(labels[mask].tolist()) == {0.0, 1.0}


def test_split_fractions_sizes_and_seed_determinism() -> None:
    frame = _frame(1000)
    a = TabularDataset(frame, TASKS, valid_fraction=0.2, test_fraction=0.1, seed=7)
    b = TabularDataset(frame, TASKS, valid_fraction=0.2, test_fraction=0.1, seed=7)
    c = TabularDataset(frame, TASKS, valid_fraction=0.2, test_fraction=0.1, seed=8)
    assert [len(a.train), len(a.valid), len(a.test)] == [700, 200, 100]
    for name in ("train", "valid", "test"):
        np.testing.assert_array_equal(a.split_rows[name], b.split_rows[name])
        assert torch.equal(a.splits[name].numeric, b.splits[name].numeric)
    assert not np.array_equal(a.split_rows["valid"], c.split_rows["valid"])
    every = np.concatenate([a.split_rows[n] for n in ("train", "valid", "test")])
    np.testing.assert_array_equal(np.sort(every), np.arange(1000))


def test_zero_test_fraction_has_no_test_split() -> None:
    ds = TabularDataset(_frame(50), TASKS, valid_fraction=0.2, test_fraction=0.0)
    assert ds.test is None and set(ds.splits) == {"train", "valid"}


def test_split_column_with_custom_values() -> None:
    frame = _frame(60)
    frame["fold"] = np.repeat(["fit", "tune", "hold"], 20)
    ds = TabularDataset(frame, TASKS, split_column="fold",
                        split_values={"train": "fit", "valid": "tune", "test": "hold"})
    np.testing.assert_array_equal(ds.split_rows["train"], np.arange(20))
    np.testing.assert_array_equal(ds.split_rows["test"], np.arange(40, 60))
    assert "fold" not in ds.schema.categorical_names  # the split column is never a feature
    frame.loc[3, "fold"] = "other"
    with pytest.raises(DataError, match="'other'") as err:
        TabularDataset(frame, TASKS, split_column="fold",
                       split_values={"train": "fit", "valid": "tune", "test": "hold"})
    assert err.value.column == "fold"


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_file_round_trip(tmp_path, suffix: str) -> None:
    frame = _frame(120)
    frame["device"] = frame["device"].astype(str)
    path = tmp_path / f"data.{suffix}"
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
    from_file = TabularDataset(path, TASKS, seed=2)
    from_frame = TabularDataset(frame, TASKS, seed=2)
    assert from_file.schema == from_frame.schema
    for name in from_frame.splits:
        for field in ("numeric", "categorical", "labels", "mask"):
            assert torch.allclose(getattr(from_file.splits[name], field).double(),
                                  getattr(from_frame.splits[name], field).double())


def test_encode_frame_reproduces_training_tensors() -> None:
    frame = _frame(300)
    ds = TabularDataset(frame, TASKS, seed=4)
    schema = type(ds.schema).model_validate_json(ds.schema.model_dump_json())  # as exported
    for name, split in ds.splits.items():
        new = frame.iloc[ds.split_rows[name]].reset_index(drop=True)
        again = encode_frame(new[new.columns[::-1]], schema, TASKS)  # column order is irrelevant
        assert isinstance(again, SplitTensors) and again.task_names == split.task_names
        for field in ("numeric", "categorical", "labels", "mask"):
            assert torch.equal(getattr(again, field), getattr(split, field)), (name, field)
    unlabelled = encode_frame(frame.drop(columns=["click", "watch"]), schema, TASKS,
                              labels=False)
    assert not unlabelled.mask.any() and unlabelled.labels.shape == (300, 2)


def test_to_moves_every_split() -> None:
    ds = TabularDataset(_frame(50), TASKS).to("meta")
    assert all(s.numeric.device.type == "meta" for s in ds.splits.values())


def test_detect_schema(tmp_path) -> None:
    frame = _frame(30)
    info = detect_schema(frame)
    assert info["rows"] == 30
    by_name = {c["name"]: c for c in info["columns"]}
    assert by_name["age"]["kind"] == "numeric" and by_name["city"]["kind"] == "categorical"
    assert by_name["click"]["missing"] == int(frame["click"].isna().sum())
    assert by_name["device"]["dtype"] == "category"
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert detect_schema(tmp_path / "d.csv")["rows"] == 30


# --- errors name the column ----------------------------------------------------------------


def test_missing_label_column_is_named() -> None:
    with pytest.raises(DataError, match="'conversion'") as err:
        TabularDataset(_frame(), [*TASKS, TaskSpec(name="conv", label="conversion")])
    assert err.value.column == "conversion"


def test_missing_feature_column_is_named() -> None:
    with pytest.raises(DataError, match="'income'") as err:
        TabularDataset(_frame(), TASKS, numeric=["age", "income"])
    assert err.value.column == "income" and err.value.field == "income"


def test_nan_in_numeric_feature_is_named() -> None:
    frame = _frame()
    frame.loc[150, "price"] = np.nan
    with pytest.raises(DataError, match="'price'.*NaN") as err:
        TabularDataset(frame, TASKS, missing="error")
    assert err.value.column == "price"


@pytest.mark.parametrize("values", [[0, 1, 2, 1], [0.0, 0.5, 1.0, 1.0], ["yes", "no", "no", "yes"]])
def test_non_binary_labels_for_binary_task_are_named(values: list[object]) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "bought": values})
    with pytest.raises(DataError, match="'bought'") as err:
        TabularDataset(frame, [TaskSpec(name="bought")], valid_fraction=0.25, test_fraction=0.0)
    assert err.value.column == "bought"
    bad = {"[0, 1, 2, 1]": "2", "[0.0, 0.5, 1.0, 1.0]": "0.5"}.get(str(values), "'yes'")
    assert bad in str(err.value)


def test_label_used_as_feature_and_empty_task_are_errors() -> None:
    with pytest.raises(DataError, match="'click'"):
        TabularDataset(_frame(), TASKS, numeric=["age", "click"])
    frame = _frame()
    frame["watch"] = np.nan
    with pytest.raises(DataError, match="no labelled rows in the train split") as err:
        TabularDataset(frame, TASKS)
    assert err.value.column == "watch"


def test_unsupported_dtype_and_non_numeric_numeric_feature() -> None:
    frame = _frame(20)
    frame["when"] = pd.Timestamp("2024-01-01")
    with pytest.raises(DataError, match="'when'"):
        TabularDataset(frame, TASKS)
    assert TabularDataset(frame, TASKS, exclude=["when"]).schema.numeric_names == ["age", "price"]
    with pytest.raises(DataError, match="numeric feature 'city' has non-numeric values"):
        TabularDataset(frame, TASKS, numeric=["city"])


def test_bad_path_and_format() -> None:
    with pytest.raises(DataError) as err:
        TabularDataset("/nonexistent/data.csv", TASKS)
    assert err.value.field == "path"
    with pytest.raises(DataError, match="suffix"):
        TabularDataset("/tmp/data.txt", TASKS)


def test_a_leftover_0_1_column_used_as_a_feature_is_warned_about_by_name() -> None:
    """Another target the user did not name as a task (0/1, like a label) silently became a
    feature: the dataset's warnings (printed by spec validate and search, answered by REST
    submit) name it as possible leakage; a 0/1 column with one value present, a non-0/1
    column and a listed feature are not warned about."""
    frame = _frame()
    rng = np.random.default_rng(1)
    frame["purchase"] = rng.integers(0, 2, len(frame))      # another target, int 0/1
    frame["refunded"] = rng.integers(0, 2, len(frame)) > 0  # bool
    frame["always_one"] = 1.0                               # constant: not label-like
    ds = TabularDataset(frame, TASKS)
    assert ds.label_like_features == ["purchase", "refunded"]
    leaks = [w for w in ds.warnings if "leakage" in w]
    assert len(leaks) == 1 and "'purchase', 'refunded'" in leaks[0]
    assert "'always_one'" not in leaks[0] and "dataset.features" in leaks[0]
    assert "possible label leakage" in " ".join(ds.summary()["warnings"])  # type: ignore[arg-type]
    listed = TabularDataset(frame, TASKS, numeric=["age", "purchase"], categorical=["city"])
    assert listed.label_like_features == [] and not any("leakage" in w for w in listed.warnings)


def test_a_builtin_job_on_one_label_does_not_learn_it_from_the_other() -> None:
    """A synthetic (or multi-domain) job on y1 alone took y2, the other generated target, as a
    feature: the builtins leave an unused label column out."""
    from automtl.jobspec import load_job_spec
    from automtl.search.datasets import load_dataset

    for builtin in ("synthetic", "multi-domain"):
        spec = load_job_spec({"name": "one", "dataset": {"builtin": builtin, "rows": 400},
                              "tasks": [{"name": "y1"}]})
        ds = load_dataset(spec.dataset, spec.tasks, 0)
        assert "y2" not in ds.feature_decisions, builtin
        assert not any("leakage" in w for w in ds.warnings), builtin
