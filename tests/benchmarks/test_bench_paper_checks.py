"""benchmarks.paper_checks --quick: every section runs and prints its table with intervals."""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks import paper_checks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("paper_checks")
    return paper_checks.main(["--quick", "--out", str(out)]), out


def test_every_section_writes_its_table(quick_run):
    tables, out = quick_run
    assert set(tables) == set(paper_checks.SECTIONS)
    for section in paper_checks.SECTIONS:
        text = (out / f"paper_checks_{section}.md").read_text()
        assert "Machine: " in text and "seeds 0..1" in text or section == "peers"
        assert (out / f"paper_checks_{section}.csv").exists()


def test_correlation_sweep_covers_the_papers_models_and_correlations(quick_run):
    rows = quick_run[0]["correlation"]
    assert [r["correlation"] for r in rows] == list(paper_checks.CORRELATIONS)
    for row in rows:
        for model in paper_checks.CORRELATION_MODELS:
            mean, _, half = row[f"{model} test MSE"].partition(" ± ")
            assert float(mean) > 0 and float(half) >= 0
        # the paper's sizes: a bottom of 113 ≈ 13,056 / (100 + 2 * 8) units, towers of 8
        shared_bottom, _, mmoe = (int(p) for p in row["params sb/omoe/mmoe"].split("/"))
        assert round(13_056 / (100 + 2 * 8)) == 113
        assert shared_bottom == 100 * 113 + 113 + 2 * (113 * 8 + 8 + 8 + 1)
        assert mmoe == 8 * (100 * 16 + 16) + 2 * (100 * 8 + 8) + 2 * (16 * 8 + 8 + 8 + 1)
        # the gap is shared-bottom minus MMoE, seed by seed; at correlation 1.0 its change from
        # correlation 1.0 is exactly 0 and a gate difference is a distance in [0, 1]
        sb, mm = (float(row[f"{m} test MSE"].split(" ")[0]) for m in ("shared_bottom", "mmoe"))
        assert float(row["sb - mmoe"].split(" ")[0]) == pytest.approx(sb - mm, abs=2e-4)
        assert 0.0 <= float(row["mmoe gates differ"].split(" ")[0]) <= 1.0
        for model in paper_checks.CORRELATION_MODELS:  # paired change from correlation 1.0
            assert math.isfinite(float(row[f"{model} - same at 1.0"].split(" ")[0]))
    assert rows[0]["gap - gap at 1.0"] == "0.0000 ± 0.0000"
    assert rows[0]["mmoe - same at 1.0"] == "0.0000 ± 0.0000"
    # standardised labels: identical tasks at 1.0, uncorrelated at 0.0 (600 rows: 60 test rows)
    assert float(rows[0]["label corr"].split(" ")[0]) > 0.95
    assert abs(float(rows[-1]["label corr"].split(" ")[0])) < 0.4
    text = (quick_run[1] / "paper_checks_correlation.md").read_text()
    assert "ordering REPRODUCED" in text or "ordering NOT reproduced" in text
    # online mode (the default): equal steps on fresh rows, the gap read along the training
    assert "online: 30 steps of 128 fresh rows" in text
    assert text.count("gap sb - mmoe over training steps") == len(paper_checks.CORRELATIONS)
    # the paper's metric, the training loss, next to the test MSE: a verdict for each metric
    for metric in paper_checks.METRICS.values():
        assert f"sb - mmoe ({metric})" in text
    for row in rows:
        assert float(row["sb train loss"].split(" ")[0]) > 0
        stuck, _, runs = row["sb runs > 2x median"].partition("/")
        assert 0 <= int(stuck) <= int(runs) == 2


def test_correlation_sweep_writes_every_run(quick_run):
    """One CSV row per (correlation, seed, model): the chosen rate's metrics, gates for MMoE."""
    import csv

    with (quick_run[1] / "paper_checks_correlation_seeds.csv").open() as handle:
        runs = list(csv.DictReader(handle))
    assert len(runs) == len(paper_checks.CORRELATIONS) * 2 * len(paper_checks.CORRELATION_MODELS)
    assert {r["seed"] for r in runs} == {"0", "1"} and {r["chosen"] for r in runs} == {"1"}
    for run in runs:
        assert float(run["test_mse"]) > 0 and float(run["train_loss_mean"]) > 0
        assert (run["gates_differ"] != "") == (run["model"] == "mmoe")
    table = quick_run[0]["correlation"]
    sb_at_one = [float(r["test_mse"]) for r in runs
                 if r["model"] == "shared_bottom" and r["correlation"] == "1.0"]
    assert float(table[0]["shared_bottom test MSE"].split(" ")[0]) == pytest.approx(
        sum(sb_at_one) / 2, abs=1e-4)


def test_learning_rate_grid_per_correlation_and_a_model_subset(tmp_path):
    """--lr grid with --lr-choice correlation: each (model, correlation) takes its own rate,
    the CSV marks one chosen rate per run; --correlation-models keeps sb and mmoe."""
    import csv

    rows = paper_checks.main(["--quick", "--sections", "correlation", "--lr", "1e-3", "1e-2",
                              "--lr-choice", "correlation", "--correlation-models", "mmoe",
                              "--out", str(tmp_path)])["correlation"]
    assert "omoe test MSE" not in rows[0] and "params sb/mmoe" in rows[0]
    for row in rows:
        assert {lr for lr in row["lr sb/mmoe"].split("/")} <= {"0.001", "0.01"}
    with (tmp_path / "paper_checks_correlation_seeds.csv").open() as handle:
        runs = list(csv.DictReader(handle))
    assert len(runs) == 3 * 2 * 2 * 2  # correlations x seeds x models x rates
    for correlation in ("1.0", "0.5", "0.0"):
        for model in ("shared_bottom", "mmoe"):
            chosen = {(r["lr"], r["seed"]) for r in runs if r["chosen"] == "1"
                      and r["model"] == model and r["correlation"] == correlation}
            assert len(chosen) == 2 and len({lr for lr, _ in chosen}) == 1


def test_bottom_units_zero_sizes_the_shared_bottom_to_the_whole_mmoe():
    from automtl.config import ModelConfig
    from automtl.data import TabularDataset, make_synthetic, synthetic_tasks
    from automtl.models import build_model

    assert paper_checks.parse_args(["--bottom-units", "0"]).bottom_units is None
    tasks = synthetic_tasks(binary=False)
    schema = TabularDataset(make_synthetic(rows=50, features=100), tasks).schema
    sizes = {name: build_model(ModelConfig.from_parts(arch, schema, tasks)).num_parameters()
             for name, arch in paper_checks.correlation_architectures(100).items()}
    assert sizes["shared_bottom"] == pytest.approx(sizes["mmoe"], rel=0.01)
    narrow = paper_checks.correlation_architectures(100, 16)["shared_bottom"]
    assert narrow.params.bottom_units == [16]


def test_correlation_sweep_in_epochs_mode_reports_the_transfer(tmp_path):
    rows = paper_checks.main(["--quick", "--sections", "correlation", "--correlation-mode",
                              "epochs", "--out", str(tmp_path)])["correlation"]
    assert [r["correlation"] for r in rows] == list(paper_checks.CORRELATIONS)
    for row in rows:
        for label in ("sb", "mmoe"):  # y1 minus the single-task shared bottom: a finite number
            assert math.isfinite(float(row[f"{label} y1 - sb on y1 alone"].split(" ")[0]))
    assert "epochs, best-valid epoch restored" in (
        tmp_path / "paper_checks_correlation.md").read_text()


def test_stream_gives_every_model_the_same_fresh_batches():
    stream = paper_checks.make_stream(0.5, 3.0, seed=4, test_rows=50)
    first = list(stream.batches(5, 16, chunk=2))
    again = list(stream.batches(5, 16, chunk=2))  # the next model of the seed
    assert len(first) == 5 and first[0][0].shape == (16, 100) and first[0][1].shape == (16, 2)
    for (x, y), (x2, y2) in zip(first, again, strict=True):
        assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(first[0][0], first[1][0])  # each step new rows
    assert not torch.equal(first[0][0], stream.test.numeric[:16])  # not the test rows


def test_uncertainty_label_variance_is_the_raw_labels_variance():
    from automtl.data import make_synthetic

    frame = make_synthetic(rows=100_000, features=paper_checks.MIXED_FEATURES,
                           correlation=paper_checks.MIXED_CORRELATION, seed=3)
    variance = paper_checks.label_variance(paper_checks.MIXED_FEATURES,
                                           paper_checks.MIXED_CORRELATION, 3)
    assert frame["y2"].var() == pytest.approx(variance, rel=0.03)
    assert abs(variance - 1.0) > 0.05  # raw units are not standardised units


def test_ordering_verdict_needs_a_rising_gap_with_an_interval_above_zero():
    rising = {1.0: [0.00, 0.01, -0.01] * 2, 0.5: [0.02, 0.03, 0.01] * 2,
              0.0: [0.05, 0.06, 0.04] * 2}
    verdict = paper_checks.ordering_verdict(rising)
    assert "ordering REPRODUCED" in verdict
    # six seeds that all rose: the exact one-sided signed-rank p is 1 / 2**6
    assert "Wilcoxon signed-rank one-sided p = 0.0156" in verdict and "in 6 of 6" in verdict
    # three such seeds are too few for the rank test (p = 1/8), whatever the t interval says
    few = {c: values[:3] for c, values in rising.items()}
    assert "NOT reproduced" in paper_checks.ordering_verdict(few)
    # the paired rise 0.0 - 1.0 is 0.05 at every seed, but the means are not monotone
    dip = {1.0: [0.00, 0.01, -0.01], 0.5: [-0.02, -0.01, -0.03], 0.0: [0.05, 0.06, 0.04]}
    assert "NOT reproduced" in paper_checks.ordering_verdict(dip)
    # rising means, but the paired rise's interval reaches below 0
    noisy = {1.0: [0.0, 0.0, 0.0], 0.5: [0.01, 0.01, 0.01], 0.0: [0.09, -0.05, 0.02]}
    assert "NOT reproduced" in paper_checks.ordering_verdict(noisy)


def test_snr_sweep_reports_sparsity_against_lambda_zero(quick_run):
    rows = quick_run[0]["snr"]
    assert [r["l0_lambda"] for r in rows] == [0.0, 0.3]
    assert rows[0]["closed connections"].startswith("0.000")
    assert rows[0]["AUC drop vs lambda 0"].startswith("0.0000")
    for row in rows:
        assert 0.0 <= float(row["closed connections"].split(" ")[0]) <= 1.0


def test_peer_table_has_automtl_with_and_without_batchnorm(quick_run):
    rows = quick_run[0]["peers"]
    assert {(r["dataset"], r["model"]) for r in rows} == {
        (d, m) for d in ("synthetic", "categorical") for m in ("mmoe", "ple")}
    for row in rows:
        assert 0.0 < row["automtl none"] <= 1.0 and 0.0 < row["automtl batch"] <= 1.0
        # one seed (--quick): the paired change is the difference of the two means
        assert row["batch - none"] == f"{row['automtl batch'] - row['automtl none']:.4f}"
        assert math.isfinite(row["best automtl - best peer"]) or \
            "deepctr-torch" not in row and "torch-rechub" not in row


def test_cross_stitch_and_uncertainty_compare_both_variants(quick_run):
    tables = quick_run[0]
    stitch = tables["cross_stitch"]
    assert [r["input layer"] for r in stitch] == ["shared (before)", "per column (paper, after)"]
    assert stitch[1]["params"] > stitch[0]["params"]  # one embedding table per column
    forms = tables["uncertainty"]
    assert [r["form"] for r in forms] == ["uniform", "paper"]
    for row in forms:  # the regression task's MSE in both units, labelled
        assert float(row["y2 test MSE (standardised: share of label variance)"].split(" ")[0]) > 0
        assert float(row["y2 test MSE (raw label units)"].split(" ")[0]) > 0
    # from log-variance 0 the paper form weighs the binary task about twice as much
    assert float(forms[1]["last-epoch weight y1"].split(" ")[0]) > \
        1.5 * float(forms[0]["last-epoch weight y1"].split(" ")[0])


def test_bad_arguments_exit_with_usage_errors():
    with pytest.raises(SystemExit) as error:
        paper_checks.parse_args(["--seeds", "0"])
    assert error.value.code == 2
    with pytest.raises(SystemExit) as error:
        paper_checks.parse_args(["--correlation-seeds", "1"])
    assert error.value.code == 2
    for bad in (["--bottom-units", "-1"],
                ["--correlation-mode", "epochs", "--lr", "1e-3", "1e-2"]):  # a grid: online
        with pytest.raises(SystemExit) as error:
            paper_checks.parse_args(bad)
        assert error.value.code == 2


@pytest.mark.parametrize("name", ["shared_bottom", "mmoe"])
def test_stacked_models_train_each_model_as_if_alone(name):
    """StackedModels (one vmapped forward, one Adam over stacked parameters) against training
    each model by itself with train_on_stream: the same weights and test MSE after 6 steps."""
    import copy

    from automtl.config import ModelConfig
    from automtl.data import TabularDataset, make_synthetic, synthetic_tasks
    from automtl.models import build_model

    tasks = synthetic_tasks(binary=False)
    schema = TabularDataset(make_synthetic(rows=50, features=100), tasks).schema
    architecture = paper_checks.correlation_architectures(100)[name]
    device = torch.device("cpu")
    streams = [paper_checks.make_stream(c, 1.0, seed=s, test_rows=64, standardize=False)
               for c, s in ((1.0, 0), (0.0, 1), (0.5, 2))]
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(build_model(ModelConfig.from_parts(architecture, schema, tasks)))
    alone = [copy.deepcopy(model) for model in models]
    stack = paper_checks.StackedModels(models, ["y1", "y2"], lr=1e-2, device=device)
    for rows in zip(*(s.batches(6, 16) for s in streams), strict=True):
        stack.step(torch.stack([r[0] for r in rows]), torch.stack([r[1] for r in rows]))
    stacked_mse = stack.mse(torch.stack([s.test.numeric for s in streams]),
                            torch.stack([s.test.labels for s in streams]))
    trained = stack.unstack()
    for k, (model, stream) in enumerate(zip(alone, streams, strict=True)):
        (mse,) = paper_checks.train_on_stream(model, stream, 6, 16, 1e-2, [6], device)
        assert stacked_mse[k] == pytest.approx(mse, rel=1e-4)
        for (key, mine), theirs in zip(trained[k].named_parameters(), model.parameters(),
                                       strict=True):
            assert torch.allclose(mine, theirs, atol=1e-5), key
        # the models moved: 6 steps at lr 1e-2 are not the initial weights
    torch.manual_seed(0)
    initial = build_model(ModelConfig.from_parts(architecture, schema, tasks))
    assert not all(torch.equal(a, b) for a, b in zip(initial.parameters(),
                                                     trained[0].parameters(), strict=True))


def test_glorot_init_draws_tensorflows_default_weights():
    """--init glorot: every weight within its Glorot-uniform bound and spread over it (not
    automtl's narrower nn.Linear default), each expert by its own fan-in and fan-out, biases
    0."""
    import math as m

    from automtl.config import ModelConfig
    from automtl.data import TabularDataset, make_synthetic, synthetic_tasks
    from automtl.models import build_model

    tasks = synthetic_tasks(binary=False)
    schema = TabularDataset(make_synthetic(rows=50, features=100), tasks).schema
    torch.manual_seed(0)
    mmoe = build_model(ModelConfig.from_parts(
        paper_checks.correlation_architectures(100)["mmoe"], schema, tasks))
    paper_checks.glorot_init(mmoe)
    experts = mmoe.experts.weights[0].detach()  # [8 experts, 100 in, 16 out]
    bound = m.sqrt(6 / (100 + 16))
    assert float(experts.abs().max()) <= bound and float(experts.abs().max()) > 0.95 * bound
    assert float(experts.abs().max()) > 1.5 / m.sqrt(100)  # wider than nn.Linear's default
    for name, param in mmoe.named_parameters():
        if "bias" in name:
            assert torch.count_nonzero(param) == 0, name
        elif param.dim() == 2:  # nn.Linear weight [out, in]
            limit = m.sqrt(6 / sum(param.shape))
            assert float(param.detach().abs().max()) <= limit + 1e-6, name
