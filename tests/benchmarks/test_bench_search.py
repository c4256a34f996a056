"""benchmarks.search_quality and benchmarks.search_overhead: helpers and --quick runs."""

from __future__ import annotations

import pytest

from benchmarks import search_overhead, search_quality
from benchmarks.search_quality import dominates, front, hypervolume_of


def test_hypervolume_uses_the_fixed_chance_level_reference():
    assert hypervolume_of([]) == 0.0
    assert hypervolume_of([[0.7, 0.8]]) == pytest.approx(0.2 * 0.3)
    # two points: the union of their rectangles above (0.5, 0.5)
    assert hypervolume_of([[0.7, 0.6], [0.6, 0.7]]) == pytest.approx(0.02 + 0.02 - 0.01)
    assert hypervolume_of([[0.4, 0.9]]) == 0.0  # worse than chance on one task adds nothing


def test_dominance_and_front():
    assert dominates([0.7, 0.7], [0.7, 0.6]) and not dominates([0.7, 0.7], [0.7, 0.7])
    assert not dominates([0.8, 0.5], [0.6, 0.6])
    assert front([[0.8, 0.5], [0.6, 0.6], [0.6, 0.55], [0.5, 0.9]]) == \
        [[0.8, 0.5], [0.6, 0.6], [0.5, 0.9]]


def test_budget_points_keep_complete_trials_within_the_budget():
    study = {"trials": [(0, [0.6, 0.6]), (1, None), (2, [0.7, float("nan")]), (3, [0.8, 0.8])]}
    assert search_quality.budget_points(study, 3) == [[0.6, 0.6]]
    assert search_quality.budget_points(study, 4) == [[0.6, 0.6], [0.8, 0.8]]


@pytest.mark.slow
def test_search_quality_quick_run(tmp_path):
    quality, baselines = search_quality.main(["--quick", "--out", str(tmp_path)])
    assert {(r["sampler"], r["trials"]) for r in quality} == {
        (s, b) for s in ("tpe", "nsga2", "random") for b in (3, 6)}
    by_key = {(r["sampler"], r["trials"]): r for r in quality}
    for sampler in ("tpe", "nsga2", "random"):
        # a front can only grow with more trials
        assert by_key[(sampler, 6)]["HV seed 0"] >= by_key[(sampler, 3)]["HV seed 0"] >= 0.0
        assert 0.5 <= by_key[(sampler, 6)]["best AUC y1"] <= 1.0
    assert [b["baseline"] for b in baselines] == list(search_quality.BASELINES)
    for row in baselines:
        assert row["params"] > 0 and 0.0 < row["AUC y1"] <= 1.0
        assert row["dominated by tpe@6"] in ("0/1 seeds", "1/1 seeds")
    for name in ("search_quality", "search_quality_baselines"):
        assert (tmp_path / f"{name}.csv").exists()
        assert "reference point [0.5, 0.5]" in (tmp_path / f"{name}.md").read_text()


@pytest.mark.slow
def test_search_overhead_quick_run_through_ray(tmp_path):
    rows = search_overhead.main(["--quick", "--out", str(tmp_path)])
    (summary,) = rows
    assert summary["trials complete"] == 4 and summary["failed"] == 0
    assert 0 < summary["sum training s"] < summary["search wall s"] * summary["concurrency"]
    assert 0.0 < summary["share outside training"] < 1.0
    # from the first ask to the last tell: the driver's set-up and wrap-up left out
    assert 0.0 < summary["share outside training, first ask to last tell"] \
        < summary["share outside training"]
    assert summary["driver before first ask s"] > 0 and summary["driver after last tell s"] > 0
    # trials 2 and 3 came after each slot's first: their share leaves the worker start out
    assert 0.0 < summary["share after start-up"] < 1.0
    assert summary["overhead per trial s"] > 0
    text = (tmp_path / "search_overhead_breakdown.md").read_text()
    assert "training (Trainer.fit" in text and "no trial asked" in text
    # Tune alone, with a trainable that only reports: a fraction of the whole overhead
    assert 0 < summary["Tune alone: per trial s"] < summary["overhead per trial s"]
    assert summary["Tune alone: first trials' start s"] > 0


def test_the_tune_floor_replays_as_many_reports_as_each_trial_made():
    """MO-ASHA rungs at epochs 1 and 3 of 5: a trial stopped at the first rung reported once,
    at the second twice, a complete one at both rungs and its final result."""
    from types import SimpleNamespace

    from automtl.trial_record import ATTR_PRUNED_EPOCH

    spec = {"budget": {"epochs": 5},
            "scheduler": {"name": "mo_asha", "grace_epochs": 1, "reduction_factor": 3}}
    pruned = [SimpleNamespace(user_attrs={ATTR_PRUNED_EPOCH: epoch}) for epoch in (1, 3, 1)]
    complete = [SimpleNamespace(user_attrs={})] * 2
    assert search_overhead._reports(spec, complete, pruned) == [1, 2, 1, 3, 3]
    assert search_overhead._reports({"budget": {"epochs": 5}}, complete, []) == [1, 1]


def test_breakdown_parts_add_up_to_the_worker_time():
    raw = {"wall": 10.0, "train": 6.0, "trial": 9.0, "complete": 3}
    rows = search_overhead.breakdown(raw, concurrency=2)
    parts, total = rows[:-1], rows[-1]
    assert total["worker_s"] == 20.0
    assert sum(p["worker_s"] for p in parts) == pytest.approx(20.0)
    assert sum(p["share"] for p in parts) == pytest.approx(1.0)
    assert parts[0]["per_trial_s"] == pytest.approx(2.0)
    # with the study's ask-to-tell times the outside part splits in two
    rows = search_overhead.breakdown({**raw, "optuna_trial": 15.0}, concurrency=2)
    assert [r["worker_s"] for r in rows] == [6.0, 3.0, 6.0, 5.0, 20.0]
    # ... and the driver alone before the first ask and after the last tell comes off the
    # slots' idle part, once per slot
    rows = search_overhead.breakdown({**raw, "optuna_trial": 15.0, "before_first_ask": 1.0,
                                      "after_last_tell": 0.5}, concurrency=2)
    assert [r["worker_s"] for r in rows] == [6.0, 3.0, 6.0, 2.0, 1.0, 2.0, 20.0]


def test_anytime_helpers_read_the_curve():
    from benchmarks import anytime

    points = [(1.0, 0.0), (2.5, 0.02), (4.0, 0.05)]
    assert anytime.volume_at(points, 3.0) == 0.02 and anytime.volume_at(points, 0.5) == 0.0
    assert anytime.seconds_to(points, 0.05) == 4.0 and anytime.seconds_to(points, 0.1) is None
    study = {"trials": [{"state": "COMPLETE", "values": [0.7, 0.8], "train_s": 1.0},
                        {"state": "PRUNED", "values": None, "train_s": 0.5},
                        {"state": "COMPLETE", "values": [0.6, 0.6], "train_s": 2.0}]}
    assert [s for s, _ in anytime.curve(study)] == [1.0, 1.5, 3.5]
    assert anytime.curve(study)[-1][1] == pytest.approx(0.2 * 0.3)


def _trial(state, values, cpu, wall, epochs, candidate="c"):
    return {"state": state, "values": values, "cpu_s": cpu, "train_s": wall,
            "process_cpu_s": cpu, "epochs": epochs, "topology": "mmoe", "candidate": candidate}


def test_anytime_verdict_reads_cpu_seconds_and_reports_the_other_units():
    from benchmarks import anytime

    # full TPE: 3 trials, S = 9 CPU s (30 wall s, 18 epochs); its final HV from trial 2
    tpe = {"dataset": "synthetic", "method": "tpe", "seed": 0, "valid_auc_se": [0.01, 0.01],
           "trials": [_trial("COMPLETE", [0.6, 0.6], 3.0, 10.0, 6, "a"),
                      _trial("COMPLETE", [0.7, 0.7], 3.0, 10.0, 6, "b"),
                      _trial("COMPLETE", [0.8, 0.8], 3.0, 10.0, 6, "c")]}
    # the budgeted method reaches it after 3 CPU s (1/3 of S), but its wall seconds were
    # stretched by the load (15 s: half of S) and it trained 4 epochs (2/9 of TPE's)
    early = {"dataset": "synthetic", "method": "tpe+mo_asha", "seed": 0, "pruned_fill": 2,
             "trials": [_trial("PRUNED", None, 1.0, 5.0, 1, "a"),
                        _trial("COMPLETE", [0.8, 0.85], 2.0, 10.0, 3, "d"),
                        _trial("PRUNED", None, 1.0, 1.0, 1, "e")]}
    args = anytime.parse_args(["--methods", "tpe", "tpe+mo_asha", "--datasets", "synthetic"])
    assert args.budget_unit == "cpu"
    rows = {r["method"]: r for r in anytime.anytime_rows([tpe, early], args)}
    row = rows["tpe+mo_asha"]
    assert row["reached TPE final HV"] == "1/1"
    assert row["share of S (cpu)"] == pytest.approx(1 / 3, abs=1e-3)
    assert row["share of S (wall)"] == pytest.approx(0.5)
    assert row["share of S (epochs)"] == pytest.approx(4 / 18, abs=1e-3)
    assert (row["within S/3 (cpu)"], row["within S/3 (wall)"], row["within S/3 (epochs)"]) \
        == ("1/1", "0/1", "1/1")
    assert row["HV @S/3"] == pytest.approx(0.3 * 0.35) and row["pruned"] == 2
    assert row["CPU s"] == 4.0 and row["train s"] == 16.0
    assert row["pruned in TPE's good group (asks)"] == 2
    # read in wall seconds instead, S/3 is 10 s: the same run misses the goal
    wall = anytime.parse_args(["--methods", "tpe", "tpe+mo_asha", "--datasets", "synthetic",
                               "--budget-unit", "wall"])
    row = {r["method"]: r for r in anytime.anytime_rows([tpe, early], wall)}["tpe+mo_asha"]
    assert row["HV @S/3"] == 0.0 and row["within S/3 (wall)"] == "0/1"


def test_anytime_lenient_column_lowers_full_tpes_front_by_the_validation_se_only_beside():
    from benchmarks import anytime

    # full TPE's final front (0.8, 0.8): HV 0.09; lowered by one SE (0.05) per AUC: 0.0625
    tpe = {"dataset": "synthetic", "method": "tpe", "seed": 0, "valid_auc_se": [0.05, 0.05],
           "trials": [_trial("COMPLETE", [0.6, 0.6], 3.0, 10.0, 6, "a"),
                      _trial("COMPLETE", [0.8, 0.8], 6.0, 10.0, 6, "b")]}
    # (0.76, 0.76) after 3 CPU s = S/3: HV 0.0676, short of 0.09, above 0.0625
    near = {"dataset": "synthetic", "method": "tpe+mo_asha (grace 3)", "seed": 0,
            "trials": [_trial("COMPLETE", [0.76, 0.76], 3.0, 3.0, 3, "c"),
                       _trial("PRUNED", None, 6.0, 6.0, 3, "d")]}
    args = anytime.parse_args(["--methods", "tpe", "tpe+mo_asha (grace 3)",
                               "--datasets", "synthetic"])
    assert anytime.noise_target(tpe, vars(args)) == pytest.approx(0.25 * 0.25)
    row = {r["method"]: r for r in anytime.anytime_rows([tpe, near], args)}[
        "tpe+mo_asha (grace 3)"]
    assert row["within S/3 (cpu)"] == "0/1"  # the goal: strict
    assert row["within S/3 of full TPE's final HV less 1 validation SE (not the goal)"] \
        == "1/1"
    seeds = {r["method"]: r for r in anytime.seed_rows([tpe, near], args)}
    assert seeds["tpe+mo_asha (grace 3)"]["HV @S/3"] == pytest.approx(0.0676)
    assert seeds["tpe+mo_asha (grace 3)"]["within S/3"] == "no"
    assert seeds["tpe"]["full TPE final HV"] == pytest.approx(0.09) and seeds["tpe"]["S"] == 9


def test_auc_standard_error_shrinks_with_the_rarer_class():
    import numpy as np

    from benchmarks import anytime

    rare = anytime.auc_standard_error(np.r_[np.ones(20), np.zeros(380)])
    balanced = anytime.auc_standard_error(np.r_[np.ones(200), np.zeros(200)])
    assert 0.05 < rare < 0.07 and 0.015 < balanced < 0.03  # Hanley-McNeil at AUC 0.8
    assert anytime.auc_standard_error(np.zeros(10)) == 0.0


def test_anytime_noise_compares_identical_trials_only():
    from benchmarks import anytime

    one = {"dataset": "d", "seed": 0, "trials": [_trial("COMPLETE", [0.6, 0.6], 2.0, 4.0, 6, "a"),
                                                 _trial("PRUNED", None, 1.0, 1.0, 1, "b")]}
    two = {"dataset": "d", "seed": 0, "trials": [_trial("COMPLETE", [0.6, 0.6], 2.2, 8.0, 6, "a"),
                                                 _trial("PRUNED", None, 1.0, 9.0, 3, "b")]}
    (row,) = anytime.noise_rows([one, two])
    # only candidate "a" trained the same epochs in both studies
    assert row["groups of identical trials"] == 1 and row["trials in them"] == 2
    assert row["wall: largest max/min"] == 2.0 and row["CPU: largest max/min"] == 1.1
    assert anytime.noise_rows([one]) == []


def test_the_epoch_clock_times_the_epoch_loop_in_cpu_seconds():
    import time

    import torch

    from automtl.training.trainer import Trainer
    from benchmarks import anytime

    calls = []

    def fake_train_epoch(trainer, train, optimizer, generator, epoch):
        torch.randn(300, 300) @ torch.randn(300, 300)  # some CPU work per epoch
        return {}, {}

    def fake_fit(trainer, train, valid, tasks, callback=None, **kwargs):
        deadline = time.thread_time() + 0.05
        while time.thread_time() < deadline:  # set-up before the first epoch: not counted
            pass
        for epoch in range(2):
            Trainer._train_epoch(trainer, train, None, None, epoch)
            callback(epoch, None)
        return "result"

    originals = Trainer.fit, Trainer._train_epoch
    Trainer.fit, Trainer._train_epoch = fake_fit, fake_train_epoch
    try:
        with anytime._EpochClock() as clock:
            result = Trainer.fit(None, 1, 2, 3, callback=lambda e, r: calls.append(
                (e, clock.cpu_s)))
        # restored when the study ends
        assert (Trainer.fit, Trainer._train_epoch) == (fake_fit, fake_train_epoch)
    finally:
        Trainer.fit, Trainer._train_epoch = originals
    assert result == "result" and [e for e, _ in calls] == [0, 1]
    # read before the trial's callback runs, cumulative over the epochs, set-up left out
    assert 0 < calls[0][1] <= calls[1][1] == clock.cpu_s
    assert clock.cpu_s < 0.05  # the 0.05 s of set-up are not in it
    assert clock.process_cpu_s >= clock.cpu_s * 0.9


@pytest.mark.slow
def test_anytime_quick_run(tmp_path):
    from benchmarks import anytime

    rows, topologies = anytime.main(["--quick", "--out", str(tmp_path)])
    assert {(r["dataset"], r["method"]) for r in rows} == {
        (d, m) for d in anytime.DATASETS for m in anytime.DEFAULT_METHODS}
    by_key = {(r["dataset"], r["method"]): r for r in rows}
    cap = 5 * 6  # --quick: 5 trials of full TPE, the budgeted methods at most 6x that
    for dataset in anytime.DATASETS:
        full, early = by_key[(dataset, "tpe")], by_key[(dataset, "tpe+mo_asha")]
        assert full["pruned"] == 0 and full["final HV"] >= 0.0 and full["trials"] == 5
        assert early["train s"] > 0 and full["train s"] > 0 and full["CPU s"] > 0
        # equal training CPU seconds: a budgeted method trains until it has spent full TPE's
        # (or hits its trial cap); full TPE reaches its own final HV at S
        for method in ("random", "tpe+mo_asha", "nsga2+mo_asha"):
            row = by_key[(dataset, method)]
            assert row["CPU s"] >= full["CPU s"] - 0.1 or row["trials"] == cap
        assert full["HV @S"] == full["final HV"] and 0 < full["share of S (cpu)"] <= 1.0
        assert full["reached TPE final HV"] == "1/1"
        # with coverage every topology of the space is on record in the first trials
        first = next(t for t in topologies if t["dataset"] == dataset and t["method"] == "tpe"
                     and t["trials"].startswith("first"))
        assert all(first[t] >= 1 for t in ("single_task", "shared_bottom", "mmoe", "ple"))
    for name in ("anytime", "anytime_topologies", "anytime_curves"):
        assert (tmp_path / f"{name}.csv").exists() and (tmp_path / f"{name}.md").exists()


def test_search_overhead_suggest_times_sampling_with_and_without_the_snapshot(tmp_path):
    rows = search_overhead.main(["--quick", "--suggest", "--trials", "24", "--out",
                                 str(tmp_path)])
    plain, snapshot = rows
    assert plain["trials"] == snapshot["trials"] == 24
    # the compact space's TPE samples several parameter groups per trial, each a read
    assert plain["reads per suggest after 20"] > snapshot["reads per suggest after 20"]
    assert snapshot["reads per suggest after 20"] <= 2
    # the snapshot also commits a suggest's parameters together
    assert snapshot["commits per suggest"] < plain["commits per suggest"]
    # a trial's record (some 40 attributes) is one transaction, then its tell
    assert 0 < snapshot["commits per record"] <= 6 and snapshot["mean record s"] > 0
    assert (tmp_path / "search_overhead_suggest.md").exists()


def test_anytime_spread_is_taken_over_sampler_seeds_on_the_same_data():
    from benchmarks import anytime

    def study(seed, data_seed, best):
        return {"dataset": "synthetic", "method": "tpe", "seed": seed, "data_seed": data_seed,
                "trials": [_trial("COMPLETE", [0.6, 0.6], 3.0, 3.0, 9, "a"),
                           _trial("COMPLETE", [best, best], 3.0, 3.0, 9, "b")]}

    args = anytime.parse_args(["--methods", "tpe", "--datasets", "synthetic"])
    rows = anytime.spread_rows([study(0, 7, 0.7), study(1, 7, 0.8), study(2, 7, 0.9),
                                study(0, 8, 0.7)], args)
    (row,) = rows  # data seed 8 has one study: no spread
    assert row["data seed"] == 7 and row["sampler seeds"] == 3
    assert row["final HV min"] == pytest.approx(0.04) and row["final HV max"] == 0.16
    assert row["final HV range"] == pytest.approx(0.12)
    assert row["final HV SD"] == pytest.approx(0.0603, abs=1e-4)  # of 0.04, 0.09, 0.16
    assert row["own HV @S/3 mean"] == 0.0  # the first trial ends after 3 of 9 CPU s ...
    assert anytime.parse_args(["--data-seed", "4"]).data_seed == 4
    assert anytime.parse_args([]).data_seed is None  # ... and the data follows --seed


def test_anytime_rung_ranks_compare_early_epochs_with_the_final_values():
    import json

    from benchmarks import anytime

    def trial(lr, early, final):
        record = _trial("COMPLETE", [final, final], 1.0, 1.0, 2,
                        json.dumps({"train": {"lr": lr}}))
        record["curve"] = [[1, early, early], [2, final, final]]
        return record

    # epoch 1 ranks the fast learners (lr 0.1) first, the end ranks them last
    trials = [trial(0.1, 0.80 + i / 100, 0.60 + i / 100) for i in range(3)] + \
        [trial(0.001, 0.60 + i / 100, 0.80 + i / 100) for i in range(3)]
    rows = anytime.rung_rank_rows([{"dataset": "d", "method": "tpe", "trials": trials},
                                   {"dataset": "d", "method": "tpe+mo_asha",
                                    "trials": trials[::-1]}])
    first, last = rows
    assert (first["epoch"], first["studies"], first["trials per study"]) == (1, 1, 6)
    # every trial 3 ranks off: 1 - 6 * (6 * 3**2) / (6 * (6**2 - 1))
    assert first["Spearman 1 (epoch vs final)"] == pytest.approx(1 - 324 / 210, abs=1e-3)
    assert first["top third kept (share of final top third)"] == 0.0
    assert first["median lr of the epoch's top third"] == 0.1
    assert first["median lr of the final top third"] == 0.001
    assert last["Spearman 2 (epoch vs final)"] == 1.0 and last["epoch"] == 2


def test_anytime_pause_study_resumes_promoted_trials_and_prunes_the_rest():
    """The in-process loop of ``tpe+mo_asha (pause)``: a paused trial is either resumed (its
    record PROMOTED, a ``resumed`` record of the same candidate after it that trains only the
    epochs after its rung) or pruned at the end; nothing stays paused."""
    import json

    from benchmarks import anytime

    # 5 trials: the job spec refuses a budget no larger than the space's 4 coverage trials
    args = {"trials": 5, "rows": 300, "epochs": 4, "grace": 1, "eta": 3,
            "max_trials_factor": 3, "budget_unit": "epochs", "data_seed": None}
    study = anytime.run_study("synthetic", "tpe+mo_asha (pause)", 0, args, budget=16)
    records = study["trials"]
    assert {t["state"] for t in records} <= {"COMPLETE", "PRUNED", "PROMOTED", "FAIL"}
    assert sum(t["epochs"] for t in records) >= 16  # the budget: epochs trained, resumes too
    promoted = [i for i, t in enumerate(records) if t["state"] == "PROMOTED"]
    assert promoted, "no trial was resumed"
    for i in promoted:
        after = [t for t in records[i + 1:] if t.get("resumed")
                 and t["candidate"] == records[i]["candidate"]]
        assert after, "a promoted trial never went on"
        rung = records[i]["curve"][-1][0]
        assert after[0]["curve"][0][0] == rung + 1  # from its epoch, not from scratch
    fresh = [t for t in records if not t.get("resumed")]
    assert len(fresh) <= 5 * 3 and all(t["curve"][0][0] == 1 for t in fresh)
    assert all(json.loads(t["candidate"]) for t in records)
