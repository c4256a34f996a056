"""The Trainer end to end on small synthetic data (MMoE paper recipe, binary labels)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from automtl import Trainer
from automtl.config import ModelConfig, TaskSpec, TrainConfig, WeightingConfig
from automtl.data.base import SplitTensors
from automtl.data.synthetic import make_synthetic, synthetic_tasks
from automtl.data.tabular import TabularDataset
from automtl.models.registry import build_model
from automtl.training import (
    EpochRecord,
    StopTraining,
    TrainingDivergedError,
    TrainingInterrupted,
)
from automtl.weighting import available_weightings, build_weighting
from automtl.weighting.dtp import dtp_weights

TOPOLOGIES = ["mmoe", "shared_bottom", "single_task"]
SIZES = dict(embedding_dim=4, num_shared_experts=3, expert_units=[16], bottom_units=[16],
             tower_units=[8])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one intra-op thread avoids thread thrash when the machine is shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def dataset() -> TabularDataset:
    """1,200 rows, 10 features, correlation 0.5; y2 is missing (NaN) for a third of the rows."""
    frame = make_synthetic(rows=1200, features=10, correlation=0.5, binary=True, seed=0)
    frame.loc[frame.index % 3 == 0, "y2"] = np.nan
    return TabularDataset(frame, synthetic_tasks(binary=True), valid_fraction=0.2,
                          test_fraction=0.2, seed=0)


def weighting_params(name: str, tasks: list[TaskSpec]) -> dict:
    return {"weights": {t.name: 1.0 + i for i, t in enumerate(tasks)}} if name == "fixed" else {}


def make_trainer(data: TabularDataset, topology: str = "mmoe", weighting: str = "equal",
                 tasks: list[TaskSpec] | None = None, seed: int = 0, dropout: float = 0.0,
                 **train: object) -> Trainer:
    tasks = tasks or data.tasks
    torch.manual_seed(seed)
    model = build_model(ModelConfig(topology=topology, inputs=data.schema, tasks=tasks,
                                    dropout=dropout, **SIZES))
    strategy = build_weighting(
        WeightingConfig(name=weighting, params=weighting_params(weighting, tasks)), tasks,
        seed=seed)
    config = TrainConfig(**{"epochs": 2, "batch_size": 128, "early_stopping_patience": 0,
                            "lr": 3e-3, "seed": seed, **train})
    return Trainer(model, strategy, config, "cpu")


def all_finite(metrics: dict[str, dict[str, float]]) -> bool:
    return all(math.isfinite(v) for values in metrics.values() for v in values.values())


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("weighting", available_weightings())
def test_every_weighting_trains_every_topology(dataset: TabularDataset, weighting: str,
                                               topology: str) -> None:
    trainer = make_trainer(dataset, topology, weighting)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    result = trainer.fit(dataset.train, dataset.valid, dataset.tasks, test=dataset.test)
    assert result.epochs == 2 and len(result.history) == 2
    assert all_finite(result.valid_metrics) and all_finite(result.test_metrics)
    assert set(result.valid_metrics["y1"]) == {"auc", "logloss", "accuracy"}
    for record in result.history:
        assert all(math.isfinite(v) for v in record.train_losses.values())
        assert all(math.isfinite(v) and v >= 0 for v in record.weights.values())
    after = list(trainer.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert result.num_parameters == trainer.model.num_parameters()
    assert result.latency_ms is None and result.train_time_s > 0  # measured only when asked
    assert result.primary(split="test").keys() == {"y1", "y2"}
    if topology == "single_task" and weighting == "mgda":  # nothing shared: each head its own
        assert result.history[0].weights == {"y1": 1.0, "y2": 1.0}
    json.dumps(result.to_dict())


@pytest.fixture(scope="module")
def sparse_dataset() -> TabularDataset:
    """Issue 19 item 5's data, sparser: y2 labelled on about 2% of the rows."""
    frame = make_synthetic(rows=1000, features=10, correlation=0.5, binary=True, seed=1)
    keep = np.random.default_rng(0).random(len(frame)) < 0.02
    frame.loc[~keep, "y2"] = np.nan
    return TabularDataset(frame, synthetic_tasks(binary=True), valid_fraction=0.2,
                          test_fraction=0.2, seed=0)


@pytest.mark.parametrize("weighting", available_weightings())
def test_every_batch_updates_when_a_task_has_no_label_in_it(sparse_dataset: TabularDataset,
                                                           weighting: str) -> None:
    """Issue 19 item 5: with y2 labelled on 3% of the rows at batch 32, MGDA gave the unlabelled
    task weight 1 and made no update on 35% of the batches. Every strategy must still update."""
    trainer = make_trainer(sparse_dataset, "mmoe", weighting, epochs=1, batch_size=32)
    strategy = trainer.weighting
    shared = list(trainer.model.shared_parameters())
    seen: list[tuple[int, float, float]] = []  # (y2 labelled rows, y2 weight, shared grad norm)
    original = strategy.backward

    def recording(losses, context):
        weights = original(losses, context)
        norm = sum(float(p.grad.norm()) for p in shared if p.grad is not None)
        seen.append((context.labelled["y2"], weights["y2"], norm))
        return weights

    strategy.backward = recording  # type: ignore[method-assign]
    trainer.fit(sparse_dataset.train, sparse_dataset.valid, sparse_dataset.tasks)
    without = [s for s in seen if s[0] == 0]
    assert len(without) >= 5  # the case is exercised
    assert all(weight == 0.0 for _, weight, _ in without)
    assert all(norm > 0 for *_, norm in seen)


def test_same_seed_gives_the_same_metrics_twice(dataset: TabularDataset) -> None:
    def run(seed: int):
        trainer = make_trainer(dataset, "mmoe", "pcgrad", seed=seed, dropout=0.2, epochs=2)
        return trainer.fit(dataset.train, dataset.valid, dataset.tasks)

    first, second, other = run(5), run(5), run(6)
    assert first.valid_metrics == second.valid_metrics
    assert [r.train_losses for r in first.history] == [r.train_losses for r in second.history]
    assert [r.train_losses for r in first.history] != [r.train_losses for r in other.history]


def flipped(split: SplitTensors) -> SplitTensors:
    """The same rows with every binary label inverted: what the model learns, it unlearns here."""
    return SplitTensors(split.numeric, split.categorical, 1.0 - split.labels, split.mask,
                        split.task_names)


def test_early_stopping_stops_and_restores_the_best_weights(dataset: TabularDataset) -> None:
    trainer = make_trainer(dataset, epochs=20, early_stopping_patience=2)
    states: list[dict[str, torch.Tensor]] = []

    def keep_state(epoch: int, record: EpochRecord) -> None:
        states.append({k: v.clone() for k, v in trainer.model.state_dict().items()})

    valid = flipped(dataset.train)  # validation gets worse as training fits the train split
    result = trainer.fit(dataset.train, valid, dataset.tasks, callback=keep_state)
    objectives = [r.objective for r in result.history]
    assert result.stopped_early and result.epochs < 20
    assert result.epochs == result.best_epoch + 1 + 2
    assert objectives[result.best_epoch] == max(objectives)
    assert result.history[-1].objective < objectives[result.best_epoch]
    assert result.valid_metrics == result.history[result.best_epoch].valid_metrics
    assert trainer.evaluate(valid) == result.valid_metrics  # the reused pass is exact
    final = trainer.model.state_dict()
    assert all(torch.equal(final[k], v) for k, v in states[result.best_epoch].items())
    assert any(not torch.equal(final[k], v) for k, v in states[-1].items())


@pytest.mark.parametrize("measure_latency", [False, True])
def test_fit_runs_one_validation_pass_per_epoch_and_times_latency_only_when_asked(
        dataset: TabularDataset, measure_latency: bool) -> None:
    """Issue 16: the restored epoch's validation pass is reused (not run again) and the
    latency's timed eval passes run only with ``measure_latency``; issue 14: the validation
    passes of epochs 2 and 3 are 2 of its 5 timed passes, so 3 run after training and no
    warm-up (the first epoch's pass was it)."""
    trainer = make_trainer(dataset, epochs=3)
    passes: list[int] = []  # rows of each eval-mode forward (model(...), not forward_shared)
    trainer.model.register_forward_hook(lambda module, args, out: passes.append(len(args[0])))
    result = trainer.fit(dataset.train, dataset.valid, dataset.tasks, test=dataset.test,
                         measure_latency=measure_latency)
    valid, test = len(dataset.valid), len(dataset.test)
    assert passes == [valid] * 3 + [test] + [valid] * (3 if measure_latency else 0)
    assert (result.latency_ms is not None and result.latency_ms > 0) if measure_latency \
        else result.latency_ms is None
    assert result.valid_metrics == result.history[result.best_epoch].valid_metrics
    assert trainer.evaluate(dataset.valid) == result.valid_metrics
    assert trainer.evaluate(dataset.test) == result.test_metrics


def test_latency_of_a_validation_split_over_one_eval_batch_is_measured_in_full(
        dataset: TabularDataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """A validation split of several eval batches is not one latency pass: the 2 warm-up and
    5 timed passes all run after training."""
    import automtl.training.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "EVAL_BATCH_SIZE", len(dataset.valid) - 1)
    trainer = make_trainer(dataset, epochs=3)
    passes: list[int] = []
    trainer.model.register_forward_hook(lambda module, args, out: passes.append(len(args[0])))
    trainer.fit(dataset.train, dataset.valid, dataset.tasks, measure_latency=True)
    assert passes == [len(dataset.valid)] * (3 + 7)


def test_latency_is_the_median_of_the_given_and_the_missing_timed_passes(
        dataset: TabularDataset) -> None:
    from automtl.training.inference import measure_latency_ms

    model = make_trainer(dataset, epochs=1).model
    passes: list[int] = []
    model.register_forward_hook(lambda module, args, out: passes.append(len(args[0])))
    rows = min(len(dataset.valid), 100)
    timed = [0.004, 0.001, 0.003, 0.002, 0.005]
    latency = measure_latency_ms(model, dataset.valid, torch.device("cpu"), rows=rows,
                                 timed=timed)
    assert passes == [] and latency == pytest.approx(0.003 * 1e6 / rows)
    measure_latency_ms(model, dataset.valid, torch.device("cpu"), rows=rows, timed=[1.0])
    assert passes == [rows] * 4  # the 4 missing timed passes, no warm-up
    passes.clear()
    huge = measure_latency_ms(model, dataset.valid, torch.device("cpu"), rows=rows,
                              timed=[9.0, 9.0, 9.0])  # the 2 fresh passes cannot move it
    assert passes == [rows] * 2 and huge == pytest.approx(9.0 * 1e6 / rows)


def test_callback_can_stop_training_cleanly(dataset: TabularDataset) -> None:
    seen: list[int] = []

    def stop_after_two(epoch: int, record: EpochRecord) -> None:
        assert record.epoch == epoch and all_finite(record.valid_metrics)
        seen.append(epoch)
        if epoch == 1:
            raise StopTraining

    result = make_trainer(dataset, epochs=5).fit(dataset.train, dataset.valid, dataset.tasks,
                                                 callback=stop_after_two)
    assert seen == [0, 1]
    assert result.epochs == 2 and result.stopped_by_callback and not result.stopped_early


def test_an_interrupt_ends_training_before_the_next_batch(dataset: TabularDataset) -> None:
    """``interrupt`` is read before every batch; once True, fit raises at once (mid-epoch):
    no further optimiser step, no epoch callback for the cut epoch."""
    trainer = make_trainer(dataset, epochs=5)
    batch_size = trainer.config.batch_size
    batches_per_epoch = -(-len(dataset.train) // batch_size)
    reads: list[int] = []
    epochs_seen: list[int] = []

    def interrupt() -> bool:
        reads.append(1)
        return len(reads) > batches_per_epoch + 2  # two batches into the second epoch

    with pytest.raises(TrainingInterrupted,
                       match=f"in epoch 2 before the batch at row {2 * batch_size}$"):
        trainer.fit(dataset.train, dataset.valid, dataset.tasks,
                    callback=lambda epoch, record: epochs_seen.append(epoch), interrupt=interrupt)
    assert epochs_seen == [0] and len(reads) == batches_per_epoch + 3


def test_a_non_finite_training_loss_is_an_error(dataset: TabularDataset) -> None:
    train = dataset.train
    numeric = train.numeric.clone()
    numeric[3, 0] = float("nan")
    broken = SplitTensors(numeric, train.categorical, train.labels, train.mask, train.task_names)
    with pytest.raises(TrainingDivergedError, match=r"epoch 0: non-finite training loss"):
        make_trainer(dataset).fit(broken, dataset.valid, dataset.tasks)


def test_tasks_must_match_the_model_and_the_splits(dataset: TabularDataset) -> None:
    trainer = make_trainer(dataset)
    with pytest.raises(ValueError, match="differ from the model's tasks"):
        trainer.fit(dataset.train, dataset.valid, dataset.tasks[:1])
    renamed = SplitTensors(dataset.valid.numeric, dataset.valid.categorical,
                           dataset.valid.labels, dataset.valid.mask, ("y1", "other"))
    with pytest.raises(ValueError, match=r"no label column for task\(s\) \['y2'\]"):
        trainer.fit(dataset.train, renamed, dataset.tasks)


def test_evaluate_any_split_after_fit(dataset: TabularDataset) -> None:
    trainer = make_trainer(dataset)
    result = trainer.fit(dataset.train, dataset.valid, dataset.tasks, test=dataset.test)
    assert trainer.evaluate(dataset.test) == result.test_metrics
    assert trainer.evaluate(dataset.valid) == result.valid_metrics
    train_auc = trainer.evaluate(dataset.train)["y1"]["auc"]
    assert 0.5 < train_auc <= 1.0


def test_uncertainty_log_variances_are_trained_with_the_model(dataset: TabularDataset) -> None:
    trainer = make_trainer(dataset, weighting="uncertainty")
    trainer.fit(dataset.train, dataset.valid, dataset.tasks)
    assert (trainer.weighting.log_variances.detach().abs() > 1e-3).all()


def test_regression_tasks_with_dtp(dataset: TabularDataset) -> None:
    frame = make_synthetic(rows=600, features=10, correlation=0.5, seed=1)
    data = TabularDataset(frame, synthetic_tasks(binary=False), seed=1)
    trainer = make_trainer(data, weighting="dtp", epochs=6, batch_size=32, lr=1e-2)
    result = trainer.fit(data.train, data.valid, data.tasks)
    assert result.epochs == 6
    assert set(result.valid_metrics["y1"]) == {"mse", "rmse", "mae", "r2"}
    assert all_finite(result.valid_metrics)
    assert result.primary_metrics == {"y1": "mse", "y2": "mse"}
    # DTP's weights are 1 on the first batch, then follow the training-side KPI
    # (exp(-mse) of each batch, moving average): never the validation metrics
    assert all(math.isfinite(w) and w > 0 for r in result.history for w in r.weights.values())
    assert result.history[0].weights != {"y1": 1.0, "y2": 1.0}
    kpis = trainer.weighting.kpis
    assert set(kpis) == {"y1", "y2"} and all(0.0 < k < 1.0 for k in kpis.values())
    expected = dtp_weights([kpis["y1"], kpis["y2"]], gamma=1.0, normalize=True)
    assert trainer.weighting.weights == pytest.approx(expected)


def test_esmm_product_task_trains(dataset: TabularDataset) -> None:
    frame = make_synthetic(rows=900, features=10, correlation=0.5, binary=True, seed=2)
    frame["both"] = frame["y1"] * frame["y2"]
    tasks = synthetic_tasks(binary=True) + [TaskSpec(name="both", product_of=["y1", "y2"])]
    data = TabularDataset(frame, tasks, seed=2)
    trainer = make_trainer(data, weighting="pcgrad", tasks=tasks)
    result = trainer.fit(data.train, data.valid, tasks)
    assert all_finite(result.valid_metrics) and set(result.valid_metrics) == {"y1", "y2", "both"}


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="needs CUDA: trains on a GPU (no GPU on this machine or in CI)")
def test_bf16_autocast_on_cuda(dataset: TabularDataset) -> None:
    torch.manual_seed(0)
    tasks = dataset.tasks
    model = build_model(ModelConfig(topology="mmoe", inputs=dataset.schema, tasks=tasks, **SIZES))
    weighting = build_weighting(WeightingConfig(name="mgda"), tasks)
    trainer = Trainer(model, weighting, TrainConfig(epochs=2, amp=True), "cuda")
    result = trainer.fit(dataset.train, dataset.valid, tasks)
    assert all_finite(result.valid_metrics)
    assert next(trainer.model.parameters()).device.type == "cuda"


def test_l0_penalty_closes_snr_gates(dataset: TabularDataset) -> None:
    log_alphas, penalties = [], []
    for l0_lambda in (0.0, 1.0):
        trainer = make_trainer(dataset, topology="snr_trans", l0_lambda=l0_lambda, epochs=1,
                               batch_size=16, lr=3e-2)
        initial = trainer.model.l0_penalty().item()
        trainer.fit(dataset.train, dataset.valid, dataset.tasks)
        penalties.append(trainer.model.l0_penalty().item())
        log_alphas.append(torch.cat([p.detach().reshape(-1) for n, p in
                                     trainer.model.named_parameters() if "log_alpha" in n]))
    # with the penalty, every gate's log_alpha is pushed down, so fewer gates stay open
    assert log_alphas[1].mean() < log_alphas[0].mean() - 0.5
    assert penalties[1] < penalties[0] and penalties[1] < initial


@pytest.mark.parametrize("weighting", ["uncertainty", "dwa"])
def test_a_paused_fit_resumes_from_its_epoch_with_its_weights(dataset: TabularDataset,
                                                               weighting: str, tmp_path) -> None:
    """A fit stopped after epoch 2 of 4, its training_state saved with torch.save and loaded
    into a new trainer (fresh weights), ends bit-identical to an uninterrupted 4-epoch fit:
    model weights, optimizer moments, the weighting's parameters (uncertainty) and loss
    history (dwa), the batch order and dropout."""
    from automtl.training import TrainingState

    def trainer() -> Trainer:
        return make_trainer(dataset, "mmoe", weighting, seed=3, dropout=0.2, epochs=4)

    straight = trainer()
    whole = straight.fit(dataset.train, dataset.valid, dataset.tasks)

    paused = trainer()
    saved: list[TrainingState] = []

    def pause_after_two(epoch: int, record: EpochRecord) -> None:
        if epoch == 1:
            saved.append(paused.training_state())
            raise StopTraining

    first = paused.fit(dataset.train, dataset.valid, dataset.tasks, callback=pause_after_two)
    assert first.epochs == 2 and first.stopped_by_callback
    torch.save(saved[0], tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=False)
    assert state.epoch == 2 and len(state.history) == 2

    resumed = trainer()
    fresh = {k: v.clone() for k, v in resumed.model.state_dict().items()}
    seen: list[int] = []
    rest = resumed.fit(dataset.train, dataset.valid, dataset.tasks, resume=state,
                       callback=lambda epoch, record: seen.append(epoch))
    assert seen == [2, 3]  # only the epochs after the pause are trained
    assert rest.epochs == 4 and rest.best_epoch == whole.best_epoch
    assert [r.train_losses for r in rest.history] == [r.train_losses for r in whole.history]
    assert rest.valid_metrics == whole.valid_metrics
    for name, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name
    assert any(not torch.equal(fresh[k], v) for k, v in resumed.model.state_dict().items())
    for mine, theirs in zip(resumed.weighting.extra_parameters(),
                            straight.weighting.extra_parameters(), strict=True):
        assert torch.equal(mine, theirs)


def test_training_state_is_only_available_inside_a_callback(dataset: TabularDataset) -> None:
    trainer = make_trainer(dataset, "shared_bottom", epochs=1)
    with pytest.raises(RuntimeError, match="epoch callback"):
        trainer.training_state()
    trainer.fit(dataset.train, dataset.valid, dataset.tasks)
    with pytest.raises(RuntimeError, match="epoch callback"):
        trainer.training_state()
