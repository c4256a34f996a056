"""The Optuna study of a job: opened (or resumed) in RDB storage and repaired after a crash.

A study is named ``automtl-<job name>`` (or whatever the caller passes, e.g. the service's job
id) and lives in an Optuna RDB storage (SQLite by default, PostgreSQL in production), so
optuna-dashboard can open it. One runner works on a study at a time; when a new run starts,
trials still RUNNING were left by a process that died: they are marked FAIL (reason in the
``automtl:error`` user attribute) and their parameters are enqueued so they are retried, as are
the trials a previous run interrupted (wall-time budget or cancel). Each is retried once.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sqlite3
import warnings
from collections.abc import Container, Iterator, Mapping
from typing import Any, cast

import optuna
from optuna.distributions import BaseDistribution, check_distribution_compatibility
from optuna.storages._cached_storage import _CachedStorage
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import event

from automtl.jobspec import JobSpec
from automtl.trial_record import (
    ATTR_ERROR,
    ATTR_INTERRUPTED,
    ATTR_RETRY_OF,
    set_stored_trial_attr,
    set_study_attr,
    stored_attrs,
    study_attrs,
)

STUDY_SPEC_ATTR = "automtl:spec"
STUDY_OBJECTIVES_ATTR = "automtl:objectives"
STUDY_FINGERPRINT_ATTR = "automtl:fingerprint"
STUDY_IDENTITY_ATTR = "automtl:identity"


class SpecChangedError(ValueError):
    """A job spec whose study already exists with a different spec; ``changed`` lists the
    differing fields (``budget.epochs (was 3, now 5)``)."""

    def __init__(self, study_name: str, changed: list[str]) -> None:
        self.changed = list(changed)
        super().__init__(
            f"study {study_name!r} already exists and was created by a different job spec; "
            f"changed: {'; '.join(changed)}. Its trials would not be comparable: give the job "
            "another name (or another output folder / --db), or restore the old spec to resume")


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage at ``url``.

    SQLite waits for locks instead of failing at once and runs in WAL mode with
    ``synchronous=NORMAL``: every trial writes a dozen small transactions from the driver, which
    in the default rollback-journal mode cost ~0.25 s per trial on this project's test machine
    (0.04 s in WAL). WAL stays durable when a process dies; only an OS crash or power loss can
    drop the last transactions.
    """
    if not url.startswith("sqlite"):
        return optuna.storages.RDBStorage(url)
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    event.listen(storage.engine, "connect", _sqlite_pragmas)
    storage.engine.dispose()  # reconnect so every pooled connection gets the pragmas
    return storage


class SnapshotStorage(_CachedStorage):
    """Optuna's cached RDB storage whose trial list can be read once per sampling step.

    Optuna wraps an :class:`~optuna.storages.RDBStorage` in ``_CachedStorage``, which keeps
    finished trials in memory but re-reads every unfinished one from the database on each
    ``get_all_trials`` (another process may be writing it). Multi-objective TPE with
    ``constant_liar=True`` reads the trial list that way once per parameter group it samples
    (``TPESampler._sample`` bypasses the study's once-per-``ask`` cache so that running
    trials count as liars): a trial of the ``default`` preset made about 20 such reads, 0.28 s
    of SQLite per suggest while its worker slot waited (issue 14).

    In an automtl search one driver owns every running trial of its study (the runner's rule,
    see :func:`recover_study`), and none of them changes while a new trial is being sampled.
    Inside :meth:`snapshot` the first ``get_all_trials`` is therefore read from the database
    and later calls are served from that list (filtered by state, copied when asked) -- the
    same "sync storage once every trial" Optuna applies to its own cached reads. Creating a
    trial or changing a trial's state ends the snapshot, so a told or new trial is never
    missed. The trial being sampled is seen as it was when the snapshot was taken (samplers
    leave it out of their history anyway). Writes go to the database at once, except the
    sampled parameters of a name the study has stored before: Optuna commits each one on
    its own (a dozen commits per trial, 25 ms each at load 10); inside :meth:`snapshot` they
    are checked against the study's distribution at once, as ``_CachedStorage`` does, and
    committed together when the block ends (or before anything reads the trial or changes a
    trial's state). Outside :meth:`snapshot` it behaves exactly as ``_CachedStorage``.
    """

    def __init__(self, backend: optuna.storages.RDBStorage) -> None:
        super().__init__(backend)
        self._snapshots: dict[int, list[FrozenTrial]] | None = None
        #: sampled parameters not committed yet: (trial id, name, internal value,
        #: distribution, the study's distribution of that name)
        self._queued_params: list[tuple[int, str, float, BaseDistribution,
                                        BaseDistribution]] = []
        #: database reads of the trial list (for tests and benchmarks)
        self.trial_list_reads = 0

    def __getstate__(self) -> dict[Any, Any]:
        self.flush()
        state = super().__getstate__()
        state["_snapshots"] = None
        return state

    def flush(self) -> None:
        """Commit the queued parameters in one transaction."""
        queued, self._queued_params = self._queued_params, []
        if not queued:
            return
        backend = self._backend
        with _create_scoped_session(backend.scoped_session, True) as session:
            for trial_id, name, value, distribution, previous in queued:
                backend._set_trial_param_without_commit(session, trial_id, name, value,
                                                        distribution, previous)

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: BaseDistribution) -> None:
        with self._lock:
            study_id, _ = self._trial_id_to_study_id_and_number[trial_id]
            previous = self._studies[study_id].param_distribution.get(param_name)
        if self._snapshots is None or previous is None:
            # a name seen first: Optuna's own write, which checks it against the database
            super().set_trial_param(trial_id, param_name, param_value_internal, distribution)
            return
        check_distribution_compatibility(previous, distribution)  # raises as Optuna would
        self._queued_params.append((trial_id, param_name, param_value_internal, distribution,
                                    previous))

    def get_trial(self, trial_id: int) -> FrozenTrial:
        self.flush()
        return super().get_trial(trial_id)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Serve ``get_all_trials`` from one read per study until the block ends."""
        outer = self._snapshots is not None
        if not outer:
            self._snapshots = {}
        try:
            yield
        finally:
            if not outer:
                self._snapshots = None
                self.flush()

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        if self._snapshots is None:
            self.trial_list_reads += 1
            return super().get_all_trials(study_id, deepcopy=deepcopy, states=states)
        trials = self._snapshots.get(study_id)
        if trials is None:
            self.flush()
            self.trial_list_reads += 1
            trials = super().get_all_trials(study_id, deepcopy=False)
            self._snapshots[study_id] = trials
        selected = trials if states is None else [t for t in trials if t.state in states]
        return copy.deepcopy(selected) if deepcopy else list(selected)

    def _forget_snapshot(self) -> None:
        if self._snapshots is not None:
            self._snapshots.clear()

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        self.flush()
        self._forget_snapshot()
        return super().create_new_trial(study_id, template_trial)

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Any = None) -> bool:
        self.flush()
        self._forget_snapshot()
        return super().set_trial_state_values(trial_id, state, values)

    def set_trial_attrs(self, trial_id: int, system: Mapping[str, Any],
                        user: Mapping[str, Any]) -> None:
        """Set several system and user attributes of a running trial in one transaction
        (:func:`automtl.trial_record.set_trial_attrs`). Optuna's API commits each attribute
        on its own: a trial's candidate and its result are some 40 attributes, each a SQLite
        commit of the driver (25 ms at load 10) while the trial's slot waits. Attributes
        are not cached by ``_CachedStorage``; like its own setters this writes through, on
        SQLite and PostgreSQL as one multi-row upsert per attribute table (Optuna's setter
        reads the trial and upserts one row per attribute: 258 ms for 24 attributes at load
        14 on the project's 2 cores, 35 ms this way).
        Raises what Optuna's setters raise (a finished trial cannot be updated)."""
        backend = self._backend
        if not isinstance(backend, optuna.storages.RDBStorage):
            for key, value in system.items():
                backend.set_trial_system_attr(trial_id, key, value)
            for key, value in user.items():
                backend.set_trial_user_attr(trial_id, key, value)
            return
        writes = [(models.TrialSystemAttributeModel, key, value)
                  for key, value in system.items()]
        writes += [(models.TrialUserAttributeModel, key, value) for key, value in user.items()]
        if not writes:
            return
        upsert = _upsert_statement(backend.engine.name)
        with _create_scoped_session(backend.scoped_session, True) as session:
            if upsert is None:
                for model, key, value in writes:
                    backend._set_trial_attr_without_commit(session, model, trial_id, key, value)
                return
            # Optuna's own write, once per attribute, reads the trial and upserts one row:
            # here the trial is read once and each table gets one multi-row upsert
            trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
            backend.check_trial_is_updatable(trial_id, cast(TrialState, trial.state))
            for model in (models.TrialSystemAttributeModel, models.TrialUserAttributeModel):
                rows = [{"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
                        for table, key, value in writes if table is model]
                if rows:
                    insert = upsert(model).values(rows)
                    session.execute(insert.on_conflict_do_update(
                        index_elements=[model.trial_id, model.key],
                        set_={"value_json": insert.excluded.value_json}))


def _upsert_statement(dialect: str) -> Any:
    """SQLAlchemy's ``insert`` with ``on_conflict_do_update`` for ``dialect`` (SQLite from
    3.24, PostgreSQL), as Optuna's RDB storage upserts an attribute; None for others."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    if dialect == "sqlite" and sqlite3.sqlite_version_info >= (3, 24, 0):
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    return None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def existing_trials(storage: optuna.storages.BaseStorage, study_name: str) -> int:
    """How many trials the study already has (0 when it does not exist yet)."""
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        return 0
    return storage.get_n_trials(study_id)


def check_study(study: optuna.Study, spec: JobSpec) -> None:
    """Record the job's objectives and spec fingerprint on a new study; refuse to resume one
    made by another spec.

    Raises :class:`SpecChangedError` (a ``ValueError``) naming the changed fields when the
    study's stored fingerprint (:mod:`automtl.search.fingerprint`) differs from this spec's,
    and ``ValueError`` when its objectives or directions differ. A study made before
    fingerprints were stored gets this spec's fingerprint.
    """
    from automtl.search.fingerprint import changed_fields, spec_fingerprint, spec_identity

    objectives = [o.model_dump() for o in spec.objective_list()]
    identity = spec_identity(spec)
    fingerprint = spec_fingerprint(identity)
    attrs = study_attrs(study)
    stored = attrs.get(STUDY_OBJECTIVES_ATTR)
    stored_fingerprint = attrs.get(STUDY_FINGERPRINT_ATTR)
    if stored is None:
        set_study_attr(study, STUDY_OBJECTIVES_ATTR, objectives)
        set_study_attr(study, STUDY_SPEC_ATTR, json.loads(spec.model_dump_json()))
    elif stored != objectives:
        raise ValueError(f"study {study.study_name!r} already exists with objectives "
                         f"{[o['name'] for o in stored]} ({[o['direction'] for o in stored]}); "
                         f"this job has {[o['name'] for o in objectives]}: use another job name")
    directions = [d.name.lower() for d in study.directions]
    if directions != [o["direction"] for o in objectives]:
        raise ValueError(f"study {study.study_name!r} has directions {directions}, the job "
                         f"needs {[o['direction'] for o in objectives]}")
    if stored_fingerprint is not None and stored_fingerprint != fingerprint:
        changed = changed_fields(attrs.get(STUDY_IDENTITY_ATTR) or {}, identity)
        raise SpecChangedError(study.study_name, changed or ["(fields not recorded)"])
    if stored_fingerprint is None:
        # what resuming compares, not for people: kept out of optuna-dashboard's study page
        set_study_attr(study, STUDY_FINGERPRINT_ATTR, fingerprint, show=False)
        set_study_attr(study, STUDY_IDENTITY_ATTR, identity, show=False)
    set_metric_names(study, spec)


def set_metric_names(study: optuna.Study, spec: JobSpec) -> None:
    """Name the objectives (``"ctr auc (valid)"``) so optuna-dashboard and
    ``study.trials_dataframe()`` show them instead of "Objective 0/1"."""
    from automtl.report.pareto import objective_label

    names = [objective_label(o.model_dump()) for o in spec.objective_list()]
    if study.metric_names != names:
        with warnings.catch_warnings():  # set_metric_names is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)


def recover_study(study: optuna.Study, storage: optuna.storages.BaseStorage) -> list[int]:
    """Fail RUNNING trials left by a dead run and re-enqueue them and interrupted ones.

    Returns the numbers of the trials that were enqueued again.
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    trials = study.get_trials(deepcopy=False)
    retried = {stored_attrs(t).get(ATTR_RETRY_OF) for t in trials}
    requeued = []
    for trial in trials:
        if trial.state == TrialState.RUNNING:
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            set_stored_trial_attr(storage, trial_id, ATTR_ERROR,
                                  "interrupted: the process running it ended")
            set_stored_trial_attr(storage, trial_id, ATTR_INTERRUPTED, True)
            study.tell(trial.number, state=TrialState.FAIL)
        elif not (trial.state == TrialState.FAIL and stored_attrs(trial).get(ATTR_INTERRUPTED)):
            continue
        if trial.number in retried:
            continue  # already enqueued again by an earlier run
        study.enqueue_trial(trial.params, user_attrs={ATTR_RETRY_OF: trial.number})
        requeued.append(trial.number)
    return requeued
