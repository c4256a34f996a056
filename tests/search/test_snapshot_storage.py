"""SnapshotStorage (issue 14): TPE's constant-liar sampling reads the study's trial list once
per suggest instead of once per parameter group, and samples exactly what it sampled before."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from automtl.jobspec import Objective
from automtl.search.samplers import make_sampler
from automtl.search.searcher import AutoMTLOptunaSearch
from automtl.search.study import SnapshotStorage, open_storage

OBJECTIVES = [Objective(name="t1", direction="maximize", metric="auc"),
              Objective(name="t2", direction="maximize", metric="auc")]


def conditional_space(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    """Three branches with their own parameters, like the presets' topologies."""
    topology = trial.suggest_categorical("topology", ["a", "b", "c"])
    out: dict[str, Any] = {"topology": topology,
                           "lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True)}
    for name in range(3):
        out[f"{topology}/{name}"] = trial.suggest_int(f"{topology}/{name}", 1, 64)
    return out


def _fake_values(params: dict[str, Any]) -> list[float]:
    """A deterministic result of the sampled parameters (both objectives depend on them)."""
    width = sum(v for k, v in params.items() if "/" in k)
    return [0.5 + (width % 17) / 40 + params["lr"], 0.9 - (width % 11) / 30]


def _run(tmp_path: Any, name: str, snapshot: bool, trials: int = 24,
         ) -> tuple[list[dict[str, Any]], int]:
    """Suggest ``trials`` trials, two running at a time (constant liar sees one running trial
    at every suggest), telling each a fake result; (the params, trial-list database reads)."""
    backend = open_storage(f"sqlite:///{tmp_path / (name + '.db')}")
    storage = SnapshotStorage(backend)
    searcher = AutoMTLOptunaSearch(
        conditional_space, OBJECTIVES, sampler=make_sampler("tpe", 3, trials),
        study_name=name, storage=storage if snapshot else backend, budget_trials=trials,
        max_failures=trials)
    if not snapshot:  # the same storage class, its snapshot never opened
        searcher._snapshot_storage = None
    reads_before = searcher._ot_study._storage.trial_list_reads
    running: list[str] = []
    for index in range(trials):
        trial_id = f"t{index}"
        config = searcher.suggest(trial_id)
        assert config is not None
        running.append(trial_id)
        if len(running) == 2:
            done = running.pop(0)
            values = _fake_values(searcher._ot_trials[done].params)
            searcher.on_trial_complete(done, {"automtl/final": True, "objective/t1": values[0],
                                              "objective/t2": values[1]})
    for done in running:
        values = _fake_values(searcher._ot_trials[done].params)
        searcher.on_trial_complete(done, {"automtl/final": True, "objective/t1": values[0],
                                          "objective/t2": values[1]})
    params = [t.params for t in searcher.study.get_trials(deepcopy=False)]
    return params, searcher._ot_study._storage.trial_list_reads - reads_before


def test_tpe_samples_the_same_with_one_trial_list_read_per_suggest(tmp_path: Any) -> None:
    plain, plain_reads = _run(tmp_path, "plain", snapshot=False)
    snap, snap_reads = _run(tmp_path, "snap", snapshot=True)
    assert snap == plain  # the same seeded proposals, trial by trial (TPE after its start-up)
    assert len({p["topology"] for p in snap}) == 3
    # without the snapshot every parameter group's TPE sample re-reads the running trials
    assert plain_reads > 3 * len(plain)
    # with it: the waiting-trial lookup in ask() and one read for the sampling, per trial,
    # plus the reads outside suggest (the budget count at start, each tell)
    assert snap_reads <= 3 * len(snap) + 2


def test_snapshot_sees_trials_created_and_told_inside_it(tmp_path: Any) -> None:
    storage = SnapshotStorage(open_storage(f"sqlite:///{tmp_path / 'o.db'}"))
    study = optuna.create_study(storage=storage, study_name="s", directions=["maximize"])
    with storage.snapshot():
        assert study.get_trials(deepcopy=False) == []
        trial = study.ask()
        assert [t.number for t in study.get_trials(deepcopy=False)] == [trial.number]
        study.tell(trial, 1.0)
        assert [t.state for t in study.get_trials(deepcopy=False)] == [TrialState.COMPLETE]
        reads = storage.trial_list_reads
        study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        study.get_trials(deepcopy=True)
        assert storage.trial_list_reads == reads  # served from the snapshot
    study.get_trials(deepcopy=False)
    assert storage.trial_list_reads == reads + 1  # outside: a read per call, as before


def test_searcher_wraps_an_rdb_storage_and_the_study_stays_in_the_database(
        tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    searcher = AutoMTLOptunaSearch(
        conditional_space, OBJECTIVES, sampler=make_sampler("tpe", 0, 5), study_name="s",
        storage=open_storage(url), budget_trials=5, max_failures=5)
    assert isinstance(searcher.study._storage, SnapshotStorage)
    searcher.suggest("a")
    searcher.on_trial_complete("a", {"automtl/final": True, "objective/t1": 0.7,
                                     "objective/t2": 0.6})
    stored = optuna.load_study(study_name="s", storage=url).trials
    assert [(t.state, t.values) for t in stored] == [(TrialState.COMPLETE, [0.7, 0.6])]


def test_bridge_reads_the_trial_list_once_per_finished_trial(tmp_path: Any) -> None:
    """After a trial ends, its outcome, the counts and the front come from one read."""
    from types import SimpleNamespace

    from automtl.jobspec import load_job_spec
    from automtl.search.callbacks import Progress, SearchCallbacks, TuneBridge

    class Listener(SearchCallbacks):
        def __init__(self) -> None:
            self.outcomes: list[Any] = []
            self.progress: list[Progress] = []

        def on_trial_complete(self, outcome: Any) -> None:
            self.outcomes.append(outcome)

        def on_progress(self, progress: Progress) -> None:
            self.progress.append(progress)

    spec = load_job_spec({"name": "b", "dataset": {"builtin": "synthetic", "rows": 200},
                          "tasks": [{"name": "t1", "label": "y1"},
                                    {"name": "t2", "label": "y2"}]})
    searcher = AutoMTLOptunaSearch(
        conditional_space, spec.objective_list(), sampler=make_sampler("random", 0, 4),
        study_name="b", storage=open_storage(f"sqlite:///{tmp_path / 'b.db'}"),
        budget_trials=4, max_failures=4)
    listener = Listener()
    bridge = TuneBridge(listener, spec)
    bridge.attach(searcher)
    storage = searcher.study._storage
    keys = [o.result_key for o in spec.objective_list()]
    for index, values in enumerate([(0.7, 0.6), (0.6, 0.7)]):
        trial_id = f"t{index}"
        searcher.suggest(trial_id)
        tune_trial = SimpleNamespace(trial_id=trial_id, config={}, last_result=None)
        bridge.on_trial_start(0, [], tune_trial)
        searcher.on_trial_complete(trial_id, {"automtl/final": True,
                                              **dict(zip(keys, values, strict=True))})
        reads = storage.trial_list_reads
        bridge.on_trial_complete(0, [], tune_trial)
        assert storage.trial_list_reads == reads + 1
    assert [o.number for o in listener.outcomes] == [0, 1]
    assert listener.progress[-1].complete == 2 and listener.progress[-1].front_size == 2


def _commits(storage: SnapshotStorage) -> list[int]:
    """A counter of the database transactions committed through ``storage``'s engine."""
    from sqlalchemy import event

    count = [0]
    event.listen(storage._backend.engine, "commit", lambda _conn: count.__setitem__(0,
                                                                                  count[0] + 1))
    return count


def test_a_trials_attributes_are_written_in_one_transaction_and_read_back_alike(tmp_path):
    """Issue 14: set_trial_attrs stores exactly what set_trial_attr stores key by key (system
    attributes in full, the dashboard's short user attributes), in one commit instead of one
    per attribute."""
    from automtl.trial_record import (
        ATTR_CANDIDATE,
        ATTR_CURVE,
        ATTR_PARAMS,
        ATTR_VALID,
        set_trial_attr,
        set_trial_attrs,
        stored_attrs,
    )

    values = {ATTR_CANDIDATE: {"architecture": {"topology": "mmoe", "experts": 4},
                               "train": {"lr": 0.01, "note": None}},
              ATTR_VALID: {"t1": {"auc": 0.7, "logloss": 0.5}, "t2": {"auc": 0.6}},
              ATTR_CURVE: {"epoch": [1, 2], "t1/auc": [0.6, 0.7]},  # hidden: system only
              ATTR_PARAMS: 1234}
    storage = SnapshotStorage(open_storage(f"sqlite:///{tmp_path / 'a.db'}"))
    study = optuna.create_study(storage=storage, directions=["maximize", "maximize"])
    one_by_one, batched = study.ask(), study.ask()
    commits = _commits(storage)
    for key, value in values.items():
        set_trial_attr(one_by_one, key, value)
    per_key = commits[0]
    set_trial_attrs(batched, values)
    assert commits[0] - per_key == 1 and per_key >= 10
    assert batched.user_attrs == one_by_one.user_attrs  # the trial's own cache too
    for trial in (one_by_one, batched):
        study.tell(trial, [0.5, 0.5])
    first, second = study.get_trials()
    assert first.user_attrs == second.user_attrs and first.system_attrs == second.system_attrs
    assert stored_attrs(second)[ATTR_VALID] == values[ATTR_VALID]
    assert stored_attrs(second)[ATTR_CURVE] == values[ATTR_CURVE]
    assert ATTR_CURVE not in second.user_attrs


def _statements(storage: SnapshotStorage) -> list[int]:
    """A counter of the SQL statements executed through ``storage``'s engine."""
    from sqlalchemy import event

    count = [0]
    event.listen(storage._backend.engine, "before_cursor_execute",
                 lambda *_args: count.__setitem__(0, count[0] + 1))
    return count


@pytest.mark.parametrize("upsert", ["multi-row", "optuna's per attribute"])
def test_many_attributes_cost_as_many_statements_as_few_and_are_overwritten(database_url,
                                                                            monkeypatch,
                                                                            upsert):
    """The batched write reads the trial once and upserts each attribute table in one
    statement (Optuna's setter costs a read and an upsert per attribute, 7x the time for a
    trial's record); written again, a key takes the new value. Where no multi-row upsert is
    known (another database), Optuna's per-attribute write stores the same."""
    if upsert != "multi-row":
        monkeypatch.setattr("automtl.search.study._upsert_statement", lambda dialect: None)
    storage = SnapshotStorage(open_storage(database_url))
    study = optuna.create_study(storage=storage, directions=["maximize"])
    few, many = study.ask(), study.ask()
    statements = _statements(storage)
    storage.set_trial_attrs(few._trial_id, {"automtl:a": [1]}, {"u0": 0})
    for_few, statements[0] = statements[0], 0
    storage.set_trial_attrs(many._trial_id, {f"automtl:a{i}": [i] * 3 for i in range(10)},
                            {f"u{i}": i for i in range(30)})
    if upsert == "multi-row":
        assert statements[0] == for_few
    else:
        assert statements[0] > 10 * for_few
    storage.set_trial_attrs(many._trial_id, {"automtl:a3": "new"}, {"u7": -7.5})
    study.tell(many, 1.0)
    stored = study.get_trials()[1]
    assert stored.user_attrs == {**{f"u{i}": i for i in range(30)}, "u7": -7.5}
    assert stored.system_attrs == {**{f"automtl:a{i}": [i] * 3 for i in range(10)},
                                   "automtl:a3": "new"}


def test_attributes_of_a_finished_trial_are_refused_as_optuna_refuses_them(tmp_path):

    from automtl.trial_record import ATTR_PARAMS, set_trial_attrs

    storage = SnapshotStorage(open_storage(f"sqlite:///{tmp_path / 'b.db'}"))
    study = optuna.create_study(storage=storage, directions=["maximize"])
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(RuntimeError):
        set_trial_attrs(trial, {ATTR_PARAMS: 5})


def _record_one_trial(tmp_path: Any, name: str) -> tuple[int, optuna.trial.FrozenTrial]:
    """Suggest one trial and complete it with a full result: (commits, the stored trial)."""
    storage = SnapshotStorage(open_storage(f"sqlite:///{tmp_path / (name + '.db')}"))
    searcher = AutoMTLOptunaSearch(
        conditional_space, OBJECTIVES, sampler=make_sampler("random", 0, 4), study_name=name,
        storage=storage, budget_trials=4, max_failures=4)
    commits = _commits(searcher._ot_study._storage)
    searcher.suggest("t0")
    result = {"automtl/final": True, "objective/t1": 0.7, "objective/t2": 0.6,
              "valid/t1/auc": 0.7, "valid/t2/auc": 0.6, "test/t1/auc": 0.69,
              "test/t2/auc": 0.58, "cost/params": 100, "train_time_s": 1.0,
              "trial_time_s": 1.2, "epochs_trained": 2,
              "automtl/epochs": [{"epoch": 1, "valid/t1/auc": 0.6, "valid/t2/auc": 0.5},
                                 {"epoch": 2, "valid/t1/auc": 0.7, "valid/t2/auc": 0.6}]}
    searcher.on_trial_complete("t0", result)
    return commits[0], searcher._ot_study.get_trials()[0]


def test_the_searcher_records_a_trial_in_a_few_transactions(tmp_path, monkeypatch):
    """The candidate at suggest and the result at completion are one commit each, not one
    per attribute; what is stored is the same."""
    batched, trial = _record_one_trial(tmp_path, "batched")
    monkeypatch.setattr(SnapshotStorage, "set_trial_attrs", property(
        lambda self: (_ for _ in ()).throw(AttributeError("hidden"))))
    per_attribute, same = _record_one_trial(tmp_path, "per-attribute")
    assert trial.state == same.state == TrialState.COMPLETE
    assert trial.user_attrs == same.user_attrs and trial.system_attrs == same.system_attrs
    written = len(trial.user_attrs) + len(trial.system_attrs)
    assert written >= 15
    assert per_attribute - batched >= written - 2  # two batches instead of one per attribute


def test_a_suggests_parameters_are_committed_together_and_stored_as_optuna_stores_them(
        tmp_path):
    """Inside the snapshot the sampled parameters of names the study has seen are queued and
    committed in one transaction when sampling ends; the stored trial is the same."""
    storage = SnapshotStorage(open_storage(f"sqlite:///{tmp_path / 'p.db'}"))
    study = optuna.create_study(storage=storage, directions=["maximize", "maximize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    first = study.ask()
    with storage.snapshot():  # first sight of each name: written at once, as Optuna does
        conditional_space(first)
    assert storage._queued_params == []
    study.tell(first, [0.5, 0.5])
    commits = _commits(storage)
    second = study.ask({"topology": optuna.distributions.CategoricalDistribution(
        ["a", "b", "c"])})
    before = commits[0]
    with storage.snapshot():
        second.suggest_float("lr", 1e-4, 1e-1, log=True)
        second.suggest_categorical("topology", ["a", "b", "c"])
        queued = len(storage._queued_params)
        assert queued == 1 and commits[0] == before  # topology was fixed at ask
        second.suggest_float("lr", 1e-4, 1e-1, log=True)  # again: the cached value
    assert commits[0] == before + 1 and storage._queued_params == []
    stored = storage.get_trial(second._trial_id)
    assert stored.params == second.params and set(stored.params) == {"lr", "topology"}


def test_an_incompatible_distribution_is_refused_at_suggest_as_optuna_refuses_it(tmp_path):

    storage = SnapshotStorage(open_storage(f"sqlite:///{tmp_path / 'q.db'}"))
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1e-1)
    study.tell(trial, 1.0)
    other = study.ask()
    with storage.snapshot(), pytest.raises(ValueError):
        other.suggest_int("lr", 1, 3)
    assert storage.get_trial(other._trial_id).params == {}
