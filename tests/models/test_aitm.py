"""AITM (Xi et al. KDD 2021): the calibrator penalty, the information transfer along the job's
``sequence``, the parameter count in closed form and the sequence's validation.

The shared model suite (tests/models/test_model_zoo.py) covers aitm too, with a sequence."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from automtl.config import (
    CategoricalFeature,
    InputSchema,
    ModelConfig,
    NumericFeature,
    TaskSpec,
    TrainConfig,
    WeightingConfig,
)
from automtl.data import TabularDataset
from automtl.data.funnel import funnel_tasks, make_funnel
from automtl.models import build_model
from automtl.models.aitm import AITM, InformationTransfer
from automtl.training.trainer import Trainer
from automtl.weighting import build_weighting

NUMERIC = InputSchema(numeric=[NumericFeature(name=f"x{i}") for i in range(6)])
MIXED = InputSchema(numeric=[NumericFeature(name=f"x{i}") for i in range(3)],
                    categorical=[CategoricalFeature(name="city", vocabulary=list("abcd"))])
TASKS = [TaskSpec(name="click"), TaskSpec(name="purchase"),
         TaskSpec(name="watch", type="regression")]
FUNNEL3 = [TaskSpec(name="click"), TaskSpec(name="cart"), TaskSpec(name="purchase")]


def make(tasks: list[TaskSpec] = TASKS, sequence: list[str] | None = None,
         schema: InputSchema = NUMERIC, seed: int = 0, **overrides: Any) -> AITM:
    torch.manual_seed(seed)
    model = build_model(ModelConfig(topology="aitm", inputs=schema, tasks=tasks,
                                    sequence=sequence or ["click", "purchase"], **overrides))
    assert isinstance(model, AITM)
    return model


def logit(p: float) -> float:
    return math.log(p / (1 - p))


# --- the behavioural expectation calibrator -----------------------------------------------

def test_calibrator_is_zero_when_each_step_is_at_most_as_likely_as_the_one_before() -> None:
    model = make(tasks=FUNNEL3, sequence=["click", "cart", "purchase"])
    outputs = {"click": torch.tensor([logit(0.9), logit(0.5), logit(0.2)]),
               "cart": torch.tensor([logit(0.6), logit(0.5), logit(0.1)]),
               "purchase": torch.tensor([logit(0.3), logit(0.5), logit(0.05)])}
    assert float(model.calibration_penalty(outputs)) == 0.0


def test_calibrator_is_the_mean_excess_over_the_previous_step() -> None:
    model = make(tasks=FUNNEL3, sequence=["click", "cart", "purchase"], calibrator_weight=0.5)
    # row 1: cart exceeds click by 0.2 and purchase exceeds cart by 0.1 -> 0.3
    # row 2: ordered -> 0;  row 3: purchase exceeds cart by 0.4 -> 0.4;  mean = 0.7 / 3
    outputs = {"click": torch.tensor([logit(0.4), logit(0.9), logit(0.5)]),
               "cart": torch.tensor([logit(0.6), logit(0.8), logit(0.2)]),
               "purchase": torch.tensor([logit(0.7), logit(0.1), logit(0.6)])}
    penalty = float(model.calibration_penalty(outputs))
    assert penalty == pytest.approx(0.7 / 3, abs=1e-6)
    weighted = model.output_penalty(outputs)
    assert weighted is not None and float(weighted) == pytest.approx(0.5 * 0.7 / 3, abs=1e-6)


def test_calibrator_weight_zero_adds_nothing_and_the_order_of_the_sequence_counts() -> None:
    outputs = {"click": torch.tensor([logit(0.2)]), "purchase": torch.tensor([logit(0.5)]),
               "watch": torch.tensor([3.0])}
    assert make(calibrator_weight=0.0).output_penalty(outputs) is None
    assert float(make().calibration_penalty(outputs)) == pytest.approx(0.3, abs=1e-6)
    reverse = make(sequence=["purchase", "click"])  # purchase first: click 0.2 <= 0.5
    assert float(reverse.calibration_penalty(outputs)) == 0.0


def test_the_trainer_adds_the_calibrator() -> None:
    """Same seed, same data, the sequence given backwards (purchase before click), so the
    labels themselves break the calibrator's order: a heavy calibrator weight leaves far fewer
    rows where click is predicted likelier than purchase than no calibrator does."""
    frame = make_funnel(rows=1200, features=6, seed=1)
    data = TabularDataset(frame, funnel_tasks(), valid_fraction=0.25, test_fraction=0.0,
                          seed=0)
    violations = {}
    for weight in (0.0, 10.0):
        torch.manual_seed(0)
        model = build_model(ModelConfig(topology="aitm", inputs=data.schema, tasks=data.tasks,
                                        sequence=["purchase", "click"], bottom_units=[16],
                                        tower_units=[8], calibrator_weight=weight))
        trainer = Trainer(model, build_weighting(WeightingConfig(), data.tasks),
                          TrainConfig(epochs=2, batch_size=128, lr=1e-2,
                                      early_stopping_patience=0), "cpu")
        trainer.fit(data.train, data.valid, data.tasks)
        predictions = trainer.predict(data.valid)
        excess = torch.sigmoid(predictions["click"]) - torch.sigmoid(predictions["purchase"])
        violations[weight] = float(excess.clamp_min(0).mean())
    assert violations[10.0] < 0.5 * violations[0.0], violations


# --- the information transfer -------------------------------------------------------------

def test_information_flows_forward_along_the_sequence_only() -> None:
    """Perturbing the click column changes purchase's prediction (transfer), perturbing the
    purchase column leaves click's unchanged, and the task outside the sequence reads only
    its own column."""
    model = make(bottom_units=[8])
    model.eval()
    batch = (torch.randn(16, 6), torch.zeros(16, 0, dtype=torch.long))
    index = {name: i for i, name in enumerate(model.tower_tasks)}
    with torch.no_grad():
        before = model(*batch)
        for task, changed, unchanged in (("click", ["click", "purchase"], ["watch"]),
                                         ("purchase", ["purchase"], ["click", "watch"]),
                                         ("watch", ["watch"], ["click", "purchase"])):
            saved = model.columns.weights[0].detach().clone()
            model.columns.weights[0][index[task]] += 0.5
            after = model(*batch)
            model.columns.weights[0].copy_(saved)
            for name in changed:
                assert not torch.allclose(after[name], before[name]), (task, name)
            for name in unchanged:
                assert torch.equal(after[name], before[name]), (task, name)


def test_ait_output_is_an_attention_weighted_mix_of_its_inputs_values() -> None:
    torch.manual_seed(0)
    ait = InformationTransfer(4)
    inputs = torch.randn(5, 2, 4)
    values = ait.values(inputs)                                          # [5, 2, 4]
    scores = (ait.queries(inputs) * ait.keys(inputs)).sum(-1) / 2.0     # sqrt(4)
    weights = torch.softmax(scores, dim=1)
    expected = weights[:, :1] * values[:, 0] + weights[:, 1:] * values[:, 1]
    torch.testing.assert_close(ait(inputs), expected)


# --- parameter count ------------------------------------------------------------------------

def mlp_params(in_dim: int, units: list[int]) -> int:
    total = 0
    for width in units:
        total += in_dim * width + width
        in_dim = width
    return total


@pytest.mark.parametrize("schema", [NUMERIC, MIXED], ids=["numeric", "mixed"])
@pytest.mark.parametrize("tasks, sequence", [(TASKS, ["click", "purchase"]),
                                             (FUNNEL3, ["click", "cart", "purchase"])],
                         ids=["two-steps-and-regression", "three-steps"])
def test_parameter_count_in_closed_form(schema: InputSchema, tasks: list[TaskSpec],
                                        sequence: list[str]) -> None:
    bottom, tower, embedding = [8, 4], [3], 5
    model = make(tasks=tasks, sequence=sequence, schema=schema, bottom_units=bottom,
                 tower_units=tower, embedding_dim=embedding)
    embeddings = sum(f.cardinality for f in schema.categorical) * embedding
    in_dim = len(schema.numeric) + len(schema.categorical) * embedding
    width, transfers = bottom[-1], len(sequence) - 1
    expected = (embeddings
                + len(tasks) * mlp_params(in_dim, bottom)          # one column per task
                + transfers * (width * width + width)              # g_t: one hidden layer
                + transfers * 3 * width * width                    # AIT's h1, h2, h3
                + len(tasks) * (mlp_params(width, tower) + tower[-1] + 1))  # towers
    assert model.num_parameters() == expected


# --- the sequence's validation ----------------------------------------------------------------

@pytest.mark.parametrize("sequence, message", [
    (["click"], "at least 2 steps"),
    (["click", "click"], "listed twice"),
    (["click", "refund"], "unknown task 'refund'"),
    (["click", "watch"], "'watch' is a regression task"),
])
def test_model_config_refuses_a_bad_sequence(sequence: list[str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelConfig(topology="mmoe", inputs=NUMERIC, tasks=TASKS, sequence=sequence)


def test_a_product_task_cannot_be_a_step_and_aitm_needs_a_sequence() -> None:
    tasks = [TaskSpec(name="click"), TaskSpec(name="cvr"),
             TaskSpec(name="ctcvr", product_of=["click", "cvr"])]
    with pytest.raises(ValidationError, match="ESMM product"):
        ModelConfig(topology="aitm", inputs=NUMERIC, tasks=tasks, sequence=["click", "ctcvr"])
    with pytest.raises(ValueError, match="aitm needs the job's sequence"):
        build_model(ModelConfig(topology="aitm", inputs=NUMERIC, tasks=TASKS))


def test_the_architecture_of_a_model_config_leaves_the_sequence_out() -> None:
    config = ModelConfig(topology="aitm", inputs=NUMERIC, tasks=TASKS,
                         sequence=["click", "purchase"])
    architecture = config.architecture()
    assert architecture.topology == "aitm"
    assert ModelConfig.from_parts(architecture, NUMERIC, TASKS, ["click", "purchase"]) == config


# --- the funnel generator --------------------------------------------------------------------

def test_funnel_conversions_imply_the_earlier_steps_at_the_given_rates() -> None:
    frame = make_funnel(rows=4000, features=5, steps=[("click", 0.3), ("cart", 0.5),
                                                       ("purchase", 0.2)], seed=3)
    assert list(frame.columns) == [*(f"x{i}" for i in range(5)), "click", "cart", "purchase"]
    assert set(frame["click"].unique()) <= {0.0, 1.0}
    assert not ((frame["cart"] == 1) & (frame["click"] == 0)).any()
    assert not ((frame["purchase"] == 1) & (frame["cart"] == 0)).any()
    assert frame["click"].mean() == pytest.approx(0.3, abs=1e-3)
    assert frame["cart"].sum() == round(0.5 * frame["click"].sum())
    assert frame["purchase"].sum() == round(0.2 * frame["cart"].sum())
    # same seed, same frame
    again = make_funnel(rows=4000, features=5, steps=[("click", 0.3), ("cart", 0.5),
                                                       ("purchase", 0.2)], seed=3)
    assert again.equals(frame)
