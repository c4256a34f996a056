"""Resource-aware claims: workers advertise their Ray nodes, claim only jobs one node can hold,
and a queued job no live worker can serve says why (issue 22, item 2)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from automtl_storage import (
    Database,
    JobRepository,
    JobStatus,
    Owner,
    WorkerRepository,
    utcnow,
)
from automtl_storage.resources import fits, job_requirement, unserved_reason

CPU_NODE = {"CPU": 2.0, "GPU": 0.0}
GPU_NODE = {"CPU": 8.0, "GPU": 1.0}
GPU_JOB = {"resources": {"cpus_per_trial": 1, "gpus_per_trial": 1}}
CPU_JOB = {"resources": {"cpus_per_trial": 1, "gpus_per_trial": 0}}
CUSTOM_JOB = {"resources": {"cpus_per_trial": 1, "custom": {"gpu_like": 1}}}


def test_a_job_requirement_comes_from_its_spec_with_the_spec_defaults() -> None:
    assert job_requirement({}) == {"CPU": 1.0}
    assert job_requirement(GPU_JOB) == {"CPU": 1.0, "GPU": 1.0}
    assert job_requirement({"resources": {"cpus_per_trial": 2, "gpus_per_trial": 0.25,
                                          "custom": {"gpu_like": 1}}}) == \
        {"CPU": 2.0, "GPU": 0.25, "gpu_like": 1.0}


def test_a_trial_must_fit_on_one_node_not_on_the_cluster_total() -> None:
    needed = {"CPU": 3.0, "GPU": 1.0}
    # 2 + 8 CPUs and a GPU in total, but no single node has 3 CPUs and a GPU... except this one
    assert fits(needed, [CPU_NODE, GPU_NODE])
    assert not fits(needed, [{"CPU": 2.0, "GPU": 1.0}, {"CPU": 8.0, "GPU": 0.0}])
    assert fits({"CPU": 1.0, "GPU": 0.25}, [{"CPU": 1.0, "GPU": 1.0}])  # a shared card
    assert not fits({"CPU": 1.0, "gpu_like": 1.0}, [CPU_NODE])


def test_a_cpu_worker_leaves_a_gpu_job_queued_and_claims_the_cpu_job_behind_it(
        db: Database, owner: Owner) -> None:
    with db.session() as session:
        jobs = JobRepository(session)
        gpu = jobs.create(owner.id, "gpu", GPU_JOB)
        gpu.created_at = utcnow() - timedelta(minutes=5)  # the oldest in the queue
        cpu = jobs.create(owner.id, "cpu", CPU_JOB)
        gpu_id, cpu_id = gpu.id, cpu.id
    with db.session() as session:
        claimed = JobRepository(session).claim_next("cpu-worker", nodes=[CPU_NODE])
        assert claimed is not None and claimed.id == cpu_id
    with db.session() as session:
        jobs = JobRepository(session)
        assert jobs.claim_next("cpu-worker", nodes=[CPU_NODE]) is None
        assert jobs.get(gpu_id).status is JobStatus.QUEUED
        claimed = jobs.claim_next("gpu-worker", nodes=[CPU_NODE, GPU_NODE])
        assert claimed is not None and claimed.id == gpu_id
        assert claimed.worker_id == "gpu-worker"


def test_a_stale_gpu_job_is_taken_over_only_by_a_worker_that_can_serve_it(
        db: Database, owner: Owner) -> None:
    old = utcnow() - timedelta(minutes=10)
    with db.session() as session:
        jobs = JobRepository(session)
        job = jobs.create(owner.id, "gpu", GPU_JOB)
        jobs.claim_next("dead", now=old)
        job_id = job.id
    with db.session() as session:
        jobs = JobRepository(session)
        assert jobs.claim_stale("cpu-worker", 60, nodes=[CPU_NODE]) is None
        taken = jobs.claim_stale("gpu-worker", 60, nodes=[GPU_NODE])
        assert taken is not None and taken.id == job_id and taken.attempts == 2


def test_a_job_no_live_worker_can_serve_waits_with_a_reason(db: Database,
                                                            owner: Owner) -> None:
    with db.session() as session:
        jobs = JobRepository(session)
        gpu = jobs.create(owner.id, "gpu", GPU_JOB)
        custom = jobs.create(owner.id, "custom", CUSTOM_JOB)
        cpu = jobs.create(owner.id, "cpu", CPU_JOB)
        assert "none is registered" in jobs.waiting_reason(cpu, 60)
        workers = WorkerRepository(session)
        workers.register("host-a:1", "host-a", [CPU_NODE])
        workers.register("host-b:2", "host-b", [GPU_NODE], now=utcnow() - timedelta(hours=1))
    with db.session() as session:
        jobs = JobRepository(session)
        assert jobs.waiting_reason(jobs.get(cpu.id), 60) is None
        reason = jobs.waiting_reason(jobs.get(gpu.id), 60)
        # the GPU worker's heartbeat is an hour old: it does not count
        assert reason is not None and "GPU: 1" in reason and "host-a:1" in reason
        assert "host-b" not in reason
        assert "gpu_like: 1" in jobs.waiting_reason(jobs.get(custom.id), 60)
        WorkerRepository(session).register("host-b:2", "host-b", [CPU_NODE, GPU_NODE])
    with db.session() as session:
        jobs = JobRepository(session)
        assert jobs.waiting_reason(jobs.get(gpu.id), 60) is None
        claimed = jobs.claim_next("host-a:1", nodes=[CPU_NODE])
        assert claimed is not None and claimed.id == cpu.id
        assert jobs.waiting_reason(claimed, 60) is None  # running: no waiting reason


def test_worker_rows_are_refreshed_listed_and_removed(db: Database) -> None:
    with db.session() as session:
        workers = WorkerRepository(session)
        workers.register("w1", "h", [CPU_NODE], ray_address="auto",
                         now=utcnow() - timedelta(minutes=5))
        assert [w.id for w in workers.live(60)] == []
        assert workers.touch("w1")
        assert [w.id for w in workers.live(60)] == ["w1"]
        assert workers.live(60)[0].nodes == [CPU_NODE]
        workers.remove("w1")
        assert not workers.touch("w1")
        assert workers.live(60) == []


@pytest.mark.parametrize(("nodes", "message"), [
    ([], "at least one Ray node"),
    ([{"CPU": -1}], "nodes[0].CPU: must be >= 0"),
    ([{"CPU": 1}, {"GPU": "many"}], "nodes[1].GPU: not a number"),
])
def test_bad_advertised_resources_are_refused_by_name(db: Database, nodes: list,
                                                      message: str) -> None:
    with db.session() as session, pytest.raises(ValueError, match=message.replace("[", r"\[")
                                                .replace("]", r"\]")):
        WorkerRepository(session).register("w", "h", nodes)


def test_unserved_reason_lists_what_the_live_workers_offer() -> None:
    reason = unserved_reason({"CPU": 1.0, "GPU": 1.0}, [("w1", [CPU_NODE])])
    assert reason is not None
    assert "each trial needs {CPU: 1, GPU: 1}" in reason
    assert "w1: {CPU: 2, GPU: 0}" in reason
