"""Create and read every model through its repository, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError

from automtl_storage import (
    ApiToken,
    Database,
    Dataset,
    DatasetRepository,
    ExportRepository,
    Job,
    JobRepository,
    JobStatus,
    Owner,
    OwnerRepository,
    TokenRepository,
    Trial,
    TrialRepository,
    TrialState,
    generate_token,
    hash_token,
    utcnow,
)

SPEC = {"name": "ctr-cvr", "tasks": [{"name": "ctr", "kind": "binary"}],
        "budget": {"trials": 8}, "nested": {"list": [1, 2.5, None, "x"], "flag": True}}
SCHEMA = {"columns": [{"name": "age", "type": "float64"}, {"name": "click", "type": "int64"}],
          "rows": 1000}


def test_owner_create_and_lookup(db: Database) -> None:
    with db.session() as session:
        owners = OwnerRepository(session)
        alice = owners.create("alice")
        assert owners.get_or_create("alice").id == alice.id
        bob = owners.get_or_create("bob")
    with db.session() as session:
        owners = OwnerRepository(session)
        assert owners.get_by_name("alice").id == alice.id
        assert [o.name for o in owners.list()] == ["alice", "bob"]
        assert owners.get(bob.id).created_at.tzinfo is not None
        assert owners.get_by_name("carol") is None
    with pytest.raises(IntegrityError):
        with db.session() as session:
            OwnerRepository(session).create("alice")


def test_tokens_store_only_a_hash_and_authenticate_by_the_plain_token(
    db: Database, owner: Owner
) -> None:
    with db.session() as session:
        token, plain = TokenRepository(session).create(owner.id, "laptop")
    assert plain.startswith("amtl_") and len(plain) > 40
    assert token.token_hash == hashlib.sha256(plain.encode()).hexdigest() == hash_token(plain)

    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM automtl_api_tokens")).all()
    assert len(rows) == 1
    assert all(plain not in str(value) for value in rows[0]), "the plain token is never stored"

    with db.session() as session:
        tokens = TokenRepository(session)
        found = tokens.authenticate(plain)
        assert found is not None and found.id == token.id
        assert found.owner.name == "alice"
        assert found.last_used_at is not None
        assert tokens.authenticate(plain[:-1] + ("A" if plain[-1] != "A" else "B")) is None
        assert tokens.authenticate(generate_token()) is None
        assert tokens.authenticate("") is None
    with db.session() as session:
        assert session.get(ApiToken, token.id).last_used_at is not None

    with db.session() as session:
        assert TokenRepository(session).revoke(token.id) is True
        assert TokenRepository(session).revoke(999_999) is False
    with db.session() as session:
        assert TokenRepository(session).authenticate(plain) is None
        assert [t.revoked for t in TokenRepository(session).list_for_owner(owner.id)] == [True]


def test_token_last_used_is_refreshed_at_most_once_a_minute(db: Database, owner: Owner) -> None:
    first_use = utcnow()
    with db.session() as session:
        _, plain = TokenRepository(session).create(owner.id, "ci")
        assert TokenRepository(session).authenticate(plain, now=first_use).last_used_at == first_use
    with db.session() as session:
        again = TokenRepository(session).authenticate(plain, now=first_use + timedelta(seconds=30))
        assert again.last_used_at == first_use
    later = first_use + timedelta(minutes=2)
    with db.session() as session:
        assert TokenRepository(session).authenticate(plain, now=later).last_used_at == later
    with db.session() as session:
        assert TokenRepository(session).list_for_owner(owner.id)[0].last_used_at == later


def test_generated_tokens_are_unique_and_hash_rejects_empty() -> None:
    assert len({generate_token() for _ in range(200)}) == 200
    with pytest.raises(ValueError, match="token"):
        hash_token("")


def test_dataset_create_read_and_dedupe_by_hash(db: Database, owner: Owner) -> None:
    with db.session() as session:
        other = OwnerRepository(session).create("bob")
        datasets = DatasetRepository(session)
        first = datasets.create(owner.id, "clicks.csv", "/data/1/clicks.csv", "a" * 64, SCHEMA,
                                12_345_678_901)
        datasets.create(owner.id, "other.csv", "/data/2/other.csv", "b" * 64, SCHEMA, 10)
    with db.session() as session:
        datasets = DatasetRepository(session)
        loaded = datasets.get(first.id)
        assert (loaded.name, loaded.storage_path, loaded.content_hash, loaded.size_bytes) == (
            "clicks.csv", "/data/1/clicks.csv", "a" * 64, 12_345_678_901)
        assert loaded.detected_schema == SCHEMA
        assert [d.name for d in datasets.list_for_owner(owner.id)] == ["other.csv", "clicks.csv"]
        assert datasets.list_for_owner(other.id) == []
        assert datasets.get_for_owner(first.id, other.id) is None
        assert datasets.find_by_hash(owner.id, "a" * 64).id == first.id
        assert datasets.find_by_hash(other.id, "a" * 64) is None


def test_job_create_read_and_owner_scoping(db: Database, owner: Owner) -> None:
    with db.session() as session:
        other = OwnerRepository(session).create("bob")
        dataset = DatasetRepository(session).create(owner.id, "d", "/d", "c" * 64, SCHEMA, 1)
        jobs = JobRepository(session)
        job = jobs.create(owner.id, "first", SPEC, dataset_id=dataset.id)
        second = jobs.create(owner.id, "second", SPEC, study_name="my-study")
        jobs.create(other.id, "bobs", SPEC)
    with db.session() as session:
        jobs = JobRepository(session)
        loaded = jobs.get(job.id)
        assert loaded.spec == SPEC
        assert loaded.status is JobStatus.QUEUED
        assert loaded.dataset_id == dataset.id
        assert loaded.study_name.startswith("automtl-") and loaded.study_name != second.study_name
        # optuna-dashboard's study list names the job (id and name); the suffix stays unique
        assert re.fullmatch(rf"automtl-job{job.id}-first-[0-9a-f]{{8}}", loaded.study_name)
        assert jobs.get(second.id).study_name == "my-study"
        assert (loaded.started_at, loaded.finished_at, loaded.worker_id) == (None, None, None)
        assert (loaded.cancel_requested, loaded.attempts, loaded.trials_finished) == (False, 0, 0)
        assert [j.name for j in jobs.list_for_owner(owner.id)] == ["second", "first"]
        assert jobs.get_for_owner(job.id, other.id) is None
        assert jobs.get_for_owner(job.id, owner.id).id == job.id
        assert jobs.list_for_owner(owner.id, status="running") == []
        with pytest.raises(ValueError, match="valid: queued, running, succeeded, failed, cancel"):
            jobs.list_for_owner(owner.id, status="done")


def test_job_summaries_carry_the_budget_without_loading_the_specs(db: Database,
                                                                   owner: Owner) -> None:
    """GET /jobs lists jobs with their spec's budget read by the database, not their specs."""
    import sqlalchemy as sa

    with db.session() as session:
        jobs = JobRepository(session)
        jobs.create(owner.id, "first", SPEC)
        jobs.create(owner.id, "no budget", {"name": "no budget", "tasks": []})
        jobs.create(owner.id, "third", {**SPEC, "budget": {"trials": 123_456}})
    with db.session() as session:
        rows = JobRepository(session).list_summaries_for_owner(owner.id, limit=2)
        assert [(job.name, budget) for job, budget in rows] == [("third", 123_456),
                                                                 ("no budget", None)]
        assert all("spec" in sa.inspect(job).unloaded for job, _ in rows)
        assert rows[0][0].spec["budget"] == {"trials": 123_456}  # loaded when read
        assert JobRepository(session).list_summaries_for_owner(owner.id, status="running") == []


def test_job_progress_updates(db: Database, owner: Owner) -> None:
    with db.session() as session:
        job = JobRepository(session).create(owner.id, "j", SPEC)
    with db.session() as session:
        JobRepository(session).update_progress(job.id, trials_finished=5, trials_failed=1,
                                               front_size=3, hypervolume=0.42)
    with db.session() as session:
        loaded = JobRepository(session).get(job.id)
        assert (loaded.trials_finished, loaded.trials_failed, loaded.trials_running,
                loaded.front_size, loaded.hypervolume) == (5, 1, 0, 3, 0.42)
        with pytest.raises(TypeError, match="unknown progress field.*'trials'"):
            JobRepository(session).update_progress(job.id, trials=3)


def test_cancel_queued_running_and_finished_jobs(db: Database, owner: Owner) -> None:
    with db.session() as session:
        jobs = JobRepository(session)
        queued = jobs.create(owner.id, "queued", SPEC)
        running = jobs.create(owner.id, "running", SPEC)
        done = jobs.create(owner.id, "done", SPEC)
        session.execute(text("UPDATE automtl_jobs SET status='running' WHERE id=:a OR id=:b"),
                        {"a": running.id, "b": done.id})
        assert jobs.finish(done.id, JobStatus.SUCCEEDED) is True
    with db.session() as session:
        jobs = JobRepository(session)
        cancelled = jobs.request_cancel(queued.id)
        assert cancelled.status is JobStatus.CANCELLED and cancelled.finished_at is not None
        flagged = jobs.request_cancel(running.id)
        assert flagged.status is JobStatus.RUNNING and flagged.cancel_requested is True
        untouched = jobs.request_cancel(done.id)
        assert untouched.status is JobStatus.SUCCEEDED and untouched.cancel_requested is False
        assert jobs.request_cancel(999_999) is None
    with db.session() as session:
        statuses = dict(session.execute(select(Job.name, Job.status)).all())
    assert statuses == {"queued": JobStatus.CANCELLED, "running": JobStatus.RUNNING,
                        "done": JobStatus.SUCCEEDED}


def test_finish_is_guarded_on_the_worker_and_needs_a_final_status(
    db: Database, owner: Owner
) -> None:
    with db.session() as session:
        jobs = JobRepository(session)
        job = jobs.create(owner.id, "j", SPEC)
        assert jobs.finish(job.id, "failed") is False, "a queued job is not finished"
        assert jobs.claim_next("w1").id == job.id
    with db.session() as session:
        jobs = JobRepository(session)
        with pytest.raises(ValueError, match="not a final status"):
            jobs.finish(job.id, JobStatus.RUNNING)
        with pytest.raises(ValueError, match="valid: queued"):
            jobs.finish(job.id, "exploded")
        assert jobs.finish(job.id, "failed", "boom", worker_id="w2") is False
        assert jobs.finish(job.id, "failed", "boom", worker_id="w1") is True
        assert jobs.finish(job.id, "succeeded") is False, "only once"
    with db.session() as session:
        loaded = JobRepository(session).get(job.id)
        assert (loaded.status, loaded.error) == (JobStatus.FAILED, "boom")
        assert loaded.finished_at >= loaded.started_at


def test_trial_upsert_inserts_then_updates_only_given_fields(db: Database, owner: Owner) -> None:
    with db.session() as session:
        job = JobRepository(session).create(owner.id, "j", SPEC)
    params = {"topology": "mmoe", "mmoe/num_experts": 4}
    with db.session() as session:
        trial = TrialRepository(session).upsert(job.id, 0, state="running", params=params,
                                                config={"topology": "mmoe"})
        assert trial.state is TrialState.RUNNING and trial.on_front is False
        created = trial.created_at
    finished = utcnow()
    with db.session() as session:
        trial = TrialRepository(session).upsert(
            job.id, 0, state=TrialState.COMPLETE,
            valid_metrics={"ctr": {"auc": 0.71}}, test_metrics={"ctr": {"auc": 0.70}},
            objectives={"ctr/auc": 0.71, "params": 1234.0}, num_params=1234, latency_ms=0.8,
            train_seconds=3.5, total_seconds=4.0, artifact_path="/artifacts/1/0.pt",
            gate_utilisation={"ctr": [0.5, 0.5]}, finished_at=finished,
        )
    with db.session() as session:
        loaded = TrialRepository(session).get(job.id, 0)
        assert loaded.id == trial.id
        assert loaded.state is TrialState.COMPLETE
        assert loaded.params == params and loaded.config == {"topology": "mmoe"}
        assert loaded.valid_metrics == {"ctr": {"auc": 0.71}}
        assert loaded.test_metrics == {"ctr": {"auc": 0.70}}
        assert loaded.objectives == {"ctr/auc": 0.71, "params": 1234.0}
        assert (loaded.num_params, loaded.latency_ms, loaded.train_seconds,
                loaded.total_seconds) == (1234, 0.8, 3.5, 4.0)
        assert loaded.artifact_path == "/artifacts/1/0.pt"
        assert loaded.gate_utilisation == {"ctr": [0.5, 0.5]}
        assert loaded.created_at == created and loaded.finished_at == finished
        assert session.scalar(select(func.count()).select_from(Trial)) == 1


def test_trial_upsert_rejects_unknown_fields_and_states(db: Database, owner: Owner) -> None:
    with db.session() as session:
        job = JobRepository(session).create(owner.id, "j", SPEC)
        trials = TrialRepository(session)
        with pytest.raises(TypeError, match="unknown trial field.*'metrics'"):
            trials.upsert(job.id, 0, metrics={})
        with pytest.raises(ValueError, match="valid: running, complete, failed, pruned"):
            trials.upsert(job.id, 0, state="done")
        assert trials.upsert(job.id, 0).state is TrialState.RUNNING
        assert trials.upsert(job.id, 0).id == trials.get(job.id, 0).id, "no fields: no change"


def test_trial_front_marking_and_listing(db: Database, owner: Owner) -> None:
    with db.session() as session:
        job = JobRepository(session).create(owner.id, "j", SPEC)
        other = JobRepository(session).create(owner.id, "other", SPEC)
        trials = TrialRepository(session)
        for number, state in enumerate(["complete", "complete", "failed", "complete", "running"]):
            trials.upsert(job.id, number, state=state)
        trials.upsert(other.id, 0, state="complete", on_front=True)
    with db.session() as session:
        trials = TrialRepository(session)
        assert trials.mark_front(job.id, [0, 3, 42]) == 2
        assert [t.number for t in trials.list_for_job(job.id, on_front=True)] == [0, 3]
    with db.session() as session:
        trials = TrialRepository(session)
        assert trials.mark_front(job.id, {1}) == 1
        assert [t.number for t in trials.list_for_job(job.id, on_front=True)] == [1]
        assert [t.number for t in trials.list_for_job(job.id, state="complete")] == [0, 1, 3]
        assert trials.count_by_state(job.id) == {
            TrialState.RUNNING: 1, TrialState.COMPLETE: 3, TrialState.FAILED: 1,
            TrialState.PRUNED: 0, TrialState.INTERRUPTED: 0}
        assert trials.list_for_job(other.id, on_front=True)[0].number == 0, "other job untouched"
        assert trials.mark_front(job.id, []) == 0
        assert trials.list_for_job(job.id, on_front=True) == []


def test_trials_in_a_state_are_counted_per_job_in_one_query(db: Database, owner: Owner) -> None:
    with db.session() as session:
        jobs = JobRepository(session)
        first, second, empty = (jobs.create(owner.id, n, SPEC) for n in ("a", "b", "c"))
        trials = TrialRepository(session)
        for number, state in enumerate(["pruned", "complete", "pruned", "failed"]):
            trials.upsert(first.id, number, state=state)
        trials.upsert(second.id, 0, state="pruned")
    with db.session() as session:
        trials = TrialRepository(session)
        assert trials.count_in_state([first.id, second.id, empty.id], "pruned") == {
            first.id: 2, second.id: 1, empty.id: 0}
        assert trials.count_in_state([first.id], TrialState.FAILED) == {first.id: 1}
        assert trials.count_in_state([], "pruned") == {}
        with pytest.raises(ValueError, match="trial state"):
            trials.count_in_state([first.id], "done")


def test_exports_create_and_list(db: Database, owner: Owner) -> None:
    with db.session() as session:
        job = JobRepository(session).create(owner.id, "j", SPEC)
        trial = TrialRepository(session).upsert(job.id, 7, state="complete")
        exports = ExportRepository(session)
        first = exports.create(job.id, trial.id, "/exports/1/trial-7")
        second = exports.create(job.id, trial.id, "/exports/1/trial-7-again")
    with db.session() as session:
        exports = ExportRepository(session)
        assert exports.get(first.id).location == "/exports/1/trial-7"
        assert exports.get(first.id).trial_id == trial.id
        assert [e.id for e in exports.list_for_job(job.id)] == [second.id, first.id]


def test_deleting_an_owner_cascades_to_everything_it_owns(db: Database, owner: Owner) -> None:
    with db.session() as session:
        TokenRepository(session).create(owner.id, "t")
        dataset = DatasetRepository(session).create(owner.id, "d", "/d", "e" * 64, SCHEMA, 1)
        job = JobRepository(session).create(owner.id, "j", SPEC, dataset_id=dataset.id)
        trial = TrialRepository(session).upsert(job.id, 0, state="complete")
        ExportRepository(session).create(job.id, trial.id, "/x")
    with db.session() as session:
        session.execute(delete(Owner).where(Owner.id == owner.id))
    with db.session() as session:
        for model in (ApiToken, Dataset, Job, Trial):
            assert session.scalar(select(func.count()).select_from(model)) == 0, model


def test_unique_trial_number_per_job(db: Database, owner: Owner) -> None:
    with pytest.raises(IntegrityError):
        with db.session() as session:
            job = JobRepository(session).create(owner.id, "j", SPEC)
            session.add_all([Trial(job_id=job.id, number=1), Trial(job_id=job.id, number=1)])


def test_created_times_are_recent_and_aware(db: Database, owner: Owner) -> None:
    with db.session() as session:
        job = JobRepository(session).create(owner.id, "j", SPEC)
    with db.session() as session:
        created = JobRepository(session).get(job.id).created_at
    assert abs(utcnow() - created) < timedelta(minutes=5)
