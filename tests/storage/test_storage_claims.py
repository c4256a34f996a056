"""The worker queue: atomic claims, heartbeats, stale detection and takeover, under contention.

Run with ``-s`` to see how the 50 jobs were split between the two workers and how long it took.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select
from storage_claim_worker import claim_until_empty

from automtl_storage import Database, Job, JobRepository, JobStatus, Owner, utcnow

NUM_JOBS = 50
SPEC = {"budget": {"trials": 4}}


def _queue_jobs(db: Database, owner: Owner, count: int) -> list[int]:
    with db.session() as session:
        jobs = JobRepository(session)
        return [jobs.create(owner.id, f"job-{i}", SPEC).id for i in range(count)]


def _check_each_claimed_once(db: Database, job_ids: list[int],
                             claims: dict[str, list[int]]) -> None:
    everything = [job_id for ids in claims.values() for job_id in ids]
    assert sorted(everything) == sorted(job_ids), "every job claimed exactly once"
    assert not Counter(everything) - Counter(set(everything)), "no job claimed twice"
    with db.session() as session:
        rows = session.execute(select(Job.id, Job.status, Job.worker_id, Job.attempts)).all()
    owner_of = {job_id: worker for worker, ids in claims.items() for job_id in ids}
    for job_id, status, worker_id, attempts in rows:
        assert status is JobStatus.RUNNING
        assert worker_id == owner_of[job_id]
        assert attempts == 1


def _report(db: Database, mode: str, claims: dict[str, list[int]], seconds: float) -> None:
    split = ", ".join(f"{worker}={len(ids)}" for worker, ids in sorted(claims.items()))
    print(f"\n[claim {db.dialect}/{mode}] {NUM_JOBS} jobs, 2 workers: {split}; {seconds:.3f} s")


def test_claim_takes_the_oldest_queued_job(db: Database, owner: Owner) -> None:
    with db.session() as session:
        jobs = JobRepository(session)
        assert jobs.claim_next("w") is None
        old = jobs.create(owner.id, "old", SPEC)
        old.created_at = utcnow() - timedelta(hours=1)
        new = jobs.create(owner.id, "new", SPEC)
    now = utcnow()
    with db.session() as session:
        claimed = JobRepository(session).claim_next("w1", now=now)
        assert claimed.id == old.id
        assert (claimed.status, claimed.worker_id, claimed.attempts) == (JobStatus.RUNNING,
                                                                         "w1", 1)
        assert claimed.started_at == claimed.heartbeat_at == now
    with db.session() as session:
        assert JobRepository(session).claim_next("w2").id == new.id
        assert JobRepository(session).claim_next("w2") is None


def test_two_threads_claim_every_job_exactly_once(db: Database, owner: Owner) -> None:
    job_ids = _queue_jobs(db, owner, NUM_JOBS)
    claims: dict[str, list[int]] = {"worker-a": [], "worker-b": []}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(worker_id: str) -> None:
        try:
            barrier.wait(timeout=30)
            while True:
                with db.session() as session:
                    job = JobRepository(session).claim_next(worker_id)
                    if job is None:
                        return
                    claims[worker_id].append(job.id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in claims]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    seconds = time.perf_counter() - began
    assert not errors, errors
    _check_each_claimed_once(db, job_ids, claims)
    _report(db, "threads", claims, seconds)


def test_two_processes_claim_every_job_exactly_once(
    db: Database, owner: Owner, database_url: str
) -> None:
    job_ids = _queue_jobs(db, owner, NUM_JOBS)
    context = multiprocessing.get_context("spawn")
    ready, results = context.Barrier(3), context.Queue()  # two workers and this test
    workers = [context.Process(target=claim_until_empty,
                               args=(database_url, f"process-{i}", ready, results))
               for i in range(2)]
    for worker in workers:
        worker.start()
    ready.wait(timeout=120)  # both children have imported and connected: go
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    claims = {worker_id: ids for worker_id, ids, _ in outcomes}
    assert all(isinstance(ids, list) for ids in claims.values()), claims
    _check_each_claimed_once(db, job_ids, claims)
    _report(db, "processes", claims, max(seconds for _, _, seconds in outcomes))


def test_heartbeat_only_for_the_worker_holding_a_running_job(db: Database, owner: Owner) -> None:
    with db.session() as session:
        job = JobRepository(session).create(owner.id, "j", SPEC)
        jobs = JobRepository(session)
        assert jobs.heartbeat(job.id, "w1") is False, "queued: nobody holds it"
        jobs.claim_next("w1")
    later = utcnow() + timedelta(seconds=5)
    with db.session() as session:
        jobs = JobRepository(session)
        assert jobs.heartbeat(job.id, "w1", now=later) is True
        assert jobs.heartbeat(job.id, "w2") is False
    with db.session() as session:
        assert JobRepository(session).get(job.id).heartbeat_at == later
        JobRepository(session).finish(job.id, "succeeded", worker_id="w1")
    with db.session() as session:
        assert JobRepository(session).heartbeat(job.id, "w1") is False, "finished"


def test_stale_jobs_are_found_by_heartbeat_age(db: Database, owner: Owner) -> None:
    now = utcnow()
    with db.session() as session:
        jobs = JobRepository(session)
        stale = jobs.create(owner.id, "stale", SPEC)
        fresh = jobs.create(owner.id, "fresh", SPEC)
        jobs.create(owner.id, "queued", SPEC)
        jobs.claim_next("dead-worker", now=now - timedelta(seconds=300))
        jobs.claim_next("live-worker", now=now - timedelta(seconds=300))
        assert jobs.heartbeat(fresh.id, "live-worker", now=now - timedelta(seconds=10))
    with db.session() as session:
        jobs = JobRepository(session)
        assert [j.id for j in jobs.stale_jobs(60, now=now)] == [stale.id]
        assert [j.id for j in jobs.stale_jobs(5, now=now)] == [stale.id, fresh.id]
        assert jobs.stale_jobs(600, now=now) == []
        with pytest.raises(ValueError, match="stale_after"):
            jobs.stale_jobs(0)
        assert jobs.take_over(fresh.id, "thief", 60, now=now) is None, "fresh jobs stay"
        taken = jobs.take_over(stale.id, "new-worker", 60, previous_worker_id="dead-worker",
                               now=now)
        assert (taken.worker_id, taken.heartbeat_at, taken.attempts) == ("new-worker", now, 2)
        assert taken.status is JobStatus.RUNNING
    with db.session() as session:
        jobs = JobRepository(session)
        assert jobs.stale_jobs(60, now=now) == []
        assert jobs.heartbeat(stale.id, "dead-worker") is False, "the old worker lost it"
        assert jobs.finish(stale.id, "failed", worker_id="dead-worker") is False
        assert jobs.take_over(fresh.id, "x", 5, previous_worker_id="someone-else",
                              now=now) is None, "guarded on the previous worker"


def test_claim_stale_takes_the_stalest_job(db: Database, owner: Owner) -> None:
    now = utcnow()
    with db.session() as session:
        jobs = JobRepository(session)
        first = jobs.create(owner.id, "a", SPEC)
        second = jobs.create(owner.id, "b", SPEC)
        jobs.claim_next("w1", now=now - timedelta(seconds=100))
        jobs.claim_next("w2", now=now - timedelta(seconds=200))
    with db.session() as session:
        jobs = JobRepository(session)
        assert jobs.claim_stale("w3", 50, now=now).id == second.id
        assert jobs.claim_stale("w3", 50, now=now).id == first.id
        assert jobs.claim_stale("w3", 50, now=now) is None


def test_only_one_of_two_concurrent_takers_wins_each_stale_job(
    db: Database, owner: Owner
) -> None:
    job_ids = _queue_jobs(db, owner, 20)
    long_ago = utcnow() - timedelta(hours=1)
    with db.session() as session:
        jobs = JobRepository(session)
        for _ in job_ids:
            jobs.claim_next("dead-worker", now=long_ago)
    wins: dict[str, list[int]] = {"taker-a": [], "taker-b": []}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def take(worker_id: str) -> None:
        try:
            for job_id in job_ids:
                barrier.wait(timeout=30)  # both takers race for every job
                with db.session() as session:
                    job = JobRepository(session).take_over(
                        job_id, worker_id, 60, previous_worker_id="dead-worker")
                    if job is not None:
                        wins[worker_id].append(job_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(worker,)) for worker in wins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    won = wins["taker-a"] + wins["taker-b"]
    assert sorted(won) == sorted(job_ids), "each stale job taken over exactly once"
    with db.session() as session:
        rows = dict(session.execute(select(Job.id, Job.worker_id)).all())
    for worker_id, ids in wins.items():
        assert all(rows[job_id] == worker_id for job_id in ids)
    print(f"\n[takeover {db.dialect}] 20 stale jobs: "
          f"taker-a={len(wins['taker-a'])}, taker-b={len(wins['taker-b'])}")
