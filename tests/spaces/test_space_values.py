"""One parameter's value: constants, ranges, categorical lists and layer stacks."""

from __future__ import annotations

import optuna
import pytest

from search_spaces.catalog import (
    DROPOUT,
    OPTIMIZER_PARAMS,
    TOWER_UNITS,
    ParamSpec,
    topology_tables,
)
from search_spaces.errors import ErrorCollector
from search_spaces.params import Categorical, Constant, FloatRange, IntRange, LayerStack
from search_spaces.values import parse_param

EXPERT_UNITS = topology_tables()["mmoe"]["expert_units"]
LEVELS = topology_tables()["ple"]["levels"]

LR = OPTIMIZER_PARAMS["lr"]
BATCH = OPTIMIZER_PARAMS["batch_size"]
NORMALIZE = ParamSpec("normalize", ("weighting", "params", "normalize"), "bool", True, "")


def parse(raw, spec):
    errors = ErrorCollector()
    param = parse_param(raw, spec, "p", errors)
    return param, errors.errors


def suggested(param, name="x", seed=0):
    """Suggest once from a real in-memory trial; return (value, stored params, distributions)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trial = study.ask()
    value = param.suggest(trial, name)
    return value, trial.params, trial.distributions


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_int_range_with_log_and_step():
    assert parse({"int": [1, 8]}, LEVELS) == (IntRange(1, 8), [])
    assert parse({"int": [1, 8], "log": True}, LEVELS) == (IntRange(1, 8, log=True), [])
    param, errors = parse({"int": [64, 2048], "step": 64}, BATCH)
    assert errors == [] and param == IntRange(64, 2048, step=64)
    value, stored, dists = suggested(param)
    assert value % 64 == 0 and stored == {"x": value}
    assert dists["x"] == optuna.distributions.IntDistribution(64, 2048, step=64)


def test_float_range_log_and_step():
    param, errors = parse({"float": [1.0e-4, 1.0e-2], "log": True}, LR)
    assert errors == [] and param == FloatRange(1e-4, 1e-2, log=True)
    param, errors = parse({"float": [0.0, 0.5], "step": 0.1}, DROPOUT)
    assert errors == [] and param.combinations() == 6
    assert parse({"float": [0, 1]}, LR) == (None, [("p", "low 0 must be > 0")])


def test_degenerate_domains_become_constants():
    assert parse({"int": [3, 3]}, LEVELS) == (Constant(3), [])
    assert parse({"categorical": [[64, 32]]}, EXPERT_UNITS) == (Constant([64, 32]), [])
    value, stored, _ = suggested(Constant([64, 32]))
    assert value == [64, 32] and stored == {}


def test_categorical_lists_are_stored_as_strings():
    param, errors = parse({"categorical": [[64], [128, 64], 32]}, EXPERT_UNITS)
    assert errors == []
    assert param == Categorical(([64], [128, 64], [32]), ("64", "128-64", "32"))
    value, stored, dists = suggested(param)
    assert value in ([64], [128, 64], [32])
    assert isinstance(stored["x"], str)
    assert dists["x"].choices == ("64", "128-64", "32")
    towers, errors = parse({"categorical": [[], [32]]}, TOWER_UNITS)
    assert errors == [] and towers.labels == ("none", "32")


def test_suggested_value_is_a_copy():
    param, _ = parse({"categorical": [[64], [128, 64]]}, EXPERT_UNITS)
    value, _, _ = suggested(param)
    value.append(1)
    assert [64, 1] not in param.choices and [128, 64, 1] not in param.choices


def test_float_categorical_widens_ints():
    param, errors = parse({"categorical": [0, 1.0e-5]}, OPTIMIZER_PARAMS["weight_decay"])
    assert errors == [] and param.choices == (0.0, 1e-5)
    assert all(isinstance(c, float) for c in param.choices)


def test_units_constant_forms():
    assert parse(64, EXPERT_UNITS) == (Constant([64]), [])
    assert parse([128, 64], EXPERT_UNITS) == (Constant([128, 64]), [])
    assert parse([], TOWER_UNITS) == (Constant([]), [])
    assert parse([], EXPERT_UNITS)[1] == [("p", "value []: at least 1 layer is required")]


def test_layer_stack_width_depth_shrink():
    param, errors = parse({"width": {"int": [32, 256], "log": True}, "depth": {"int": [1, 3]},
                           "shrink": 0.5}, EXPERT_UNITS)
    assert errors == [] and isinstance(param, LayerStack)
    for seed in range(5):
        value, stored, dists = suggested(param, name="mmoe/expert_units", seed=seed)
        width, depth = stored["mmoe/expert_units/width"], stored["mmoe/expert_units/depth"]
        assert value == [max(1, round(width * 0.5**i)) for i in range(depth)]
        assert set(dists) == {"mmoe/expert_units/width", "mmoe/expert_units/depth"}
    assert parse({"width": 64, "depth": 2}, EXPERT_UNITS) == (Constant([64, 64]), [])


def test_layer_stack_errors():
    _, errors = parse({"width": {"int": [0, 64]}, "depth": {"int": [0, 2]}, "shrink": 1.5,
                       "taper": 1}, EXPERT_UNITS)
    assert ("p.taper", "unknown key 'taper' in a layer stack; valid: ['width', 'depth', "
                       "'shrink']") in errors
    _, errors = parse({"width": {"int": [0, 64]}, "depth": {"int": [0, 2]}, "shrink": 1.5},
                      EXPERT_UNITS)
    assert errors == [("p.width", "low 0 must be >= 1"), ("p.depth", "low 0 must be >= 1"),
                      ("p.shrink", "value 1.5 must be <= 1")]
    assert parse({"width": 64}, EXPERT_UNITS)[1] == [
        ("p", "a layer stack needs 'depth' (keys: width, depth, shrink)")]


def test_bool_parameters():
    assert parse(False, NORMALIZE) == (Constant(False), [])
    param, errors = parse({"categorical": [True, False]}, NORMALIZE)
    assert errors == [] and param.labels == (True, False)
    assert parse("yes", NORMALIZE)[1] == [("p", "expected true or false, got the string 'yes'")]


@pytest.mark.parametrize(("raw", "spec", "expected"), [
    ({"int": [3, 1]}, LEVELS, ("p", "low 3 must be <= high 1")),
    ({"int": [0, 9]}, LEVELS, ("p", "high 9 must be <= 8")),
    ({"int": [1, 2.5]}, LEVELS, ("p.int", "expected [low, high] with two integers, got [1, 2.5]")),
    ({"int": [1, 8], "step": 3}, LEVELS, ("p.step", "high - low = 7 is not a multiple of step 3")),
    ({"float": [0.0, 0.5], "step": 0.2}, DROPOUT,
     ("p.step", "high - low = 0.5 is not a multiple of step 0.2")),
    ({"float": [0.1, 0.5], "step": 0.1, "log": True}, DROPOUT,
     ("p.step", "cannot be combined with log: true")),
    ({"float": [0.0, 0.5], "step": -0.1}, DROPOUT,
     ("p.step", "must be a positive number, got -0.1")),
    ({"float": [0.0, 0.5], "log": "yes"}, DROPOUT, ("p.log", "expected true or false, got 'yes'")),
    ({"float": [0.0, 0.5], "log": True}, DROPOUT, ("p", "log needs low > 0, got 0")),
    ({"int": [0, 4], "log": True}, OPTIMIZER_PARAMS["early_stopping_patience"],
     ("p", "log needs low >= 1, got 0")),
    ({"float": [0.0, 1.0]}, DROPOUT, ("p", "high 1 must be < 1")),
    ({"categorical": []}, LEVELS, ("p.categorical", "expected a non-empty list of choices")),
    ({"categorical": [1, 1]}, LEVELS, ("p.categorical", "duplicate choices: ['1']")),
    ({"categorical": [1, 0]}, LEVELS, ("p.categorical[1]", "choice 0 must be >= 1")),
    ({"int": [1, 2], "categorical": [1]}, LEVELS,
     ("p", "expected an integer, {int: ...}, {categorical: ...}; got several of ['int', "
           "'categorical']")),
    ({"float": [1.0, 2.0]}, LEVELS,
     ("p", "{float: ...} does not fit an int parameter; expected an integer, {int: ...}, "
           "{categorical: ...}")),
    ({"range": [1, 2]}, LEVELS,
     ("p", "expected an integer, {int: ...}, {categorical: ...}; got keys ['range']")),
    ({"int": [1, 2], "lg": True}, LEVELS,
     ("p.lg", "unknown key 'lg' in an int range; valid: ['int', 'log', 'step']")),
    ("1e-3", LR, ("p", "expected a finite number, got the string '1e-3' (write numbers unquoted; "
                       "PyYAML reads 1e-3 as a string, 1.0e-3 as a number)")),
    (True, LEVELS, ("p", "expected an integer, got True (bool)")),
    ([64, -1], EXPERT_UNITS, ("p", "value [64, -1]: layer widths must be >= 1")),
    ("swish", ParamSpec("a", (), "str", "relu", "", choices=("relu", "gelu")),
     ("p", "unknown value 'swish'; valid: ['relu', 'gelu']")),
])
def test_value_errors(raw, spec, expected):
    param, errors = parse(raw, spec)
    assert param is None
    assert expected in errors
