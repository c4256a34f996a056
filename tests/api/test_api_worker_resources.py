"""What a worker advertises and claims (issue 22, item 2), without starting Ray: a local-Ray
worker advertises one node of its CPUs and torch's GPUs, leaves a GPU job queued, and stores
trial artifact paths relative to the artifact root."""

from __future__ import annotations

from pathlib import Path

from api_support import make_settings, tiny_spec

from automtl_api.worker import Worker, stored_artifact
from automtl_api.worker_resources import local_nodes, node_resources
from automtl_storage import (
    Database,
    JobRepository,
    JobStatus,
    OwnerRepository,
    WorkerRepository,
    upgrade,
)


def test_ray_node_entries_keep_only_schedulable_resources() -> None:
    raw = {"CPU": 4.0, "GPU": 1.0, "memory": 8e9, "object_store_memory": 2e9,
           "node:10.0.0.2": 1.0, "node:__internal_head__": 1.0,
           "accelerator_type:A100": 1.0, "gpu_like": 2.0}
    assert node_resources(raw) == {"CPU": 4.0, "GPU": 1.0, "gpu_like": 2.0}


def test_a_local_ray_worker_advertises_its_cpus_and_no_gpu_on_this_machine() -> None:
    import torch

    (node,) = local_nodes(3)
    assert node["CPU"] == 3.0
    assert node["GPU"] == float(torch.cuda.device_count() if torch.cuda.is_available() else 0)


def test_a_cpu_worker_registers_and_leaves_a_gpu_job_queued(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ray_num_cpus=2)
    upgrade(settings.resolved_database_url)
    with Database(settings.resolved_database_url) as database, database.session() as session:
        owner = OwnerRepository(session).create("alice")
        spec = {**tiny_spec({"builtin": "synthetic"}), "resources": {"gpus_per_trial": 1}}
        job_id = JobRepository(session).create(owner.id, "gpu", spec).id
    worker = Worker(settings, worker_id="cpu-only")
    try:
        if local_nodes(2)[0]["GPU"] >= 1:  # pragma: no cover - a GPU machine can serve it
            return
        assert worker.claim() is None
        with Database(settings.resolved_database_url) as database, \
                database.session() as session:
            (row,) = WorkerRepository(session).live(60)
            assert (row.id, row.nodes) == ("cpu-only", [{"CPU": 2.0, "GPU": 0.0}])
            jobs = JobRepository(session)
            job = jobs.get(job_id)
            assert job.status is JobStatus.QUEUED
            assert "cpu-only: {CPU: 2, GPU: 0}" in jobs.waiting_reason(job, 60)
    finally:
        worker.close()
    with Database(settings.resolved_database_url) as database, database.session() as session:
        assert WorkerRepository(session).live(60) == []  # unregistered on close


def test_artifact_paths_are_stored_relative_to_the_artifact_root(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    inside = root / "automtl-abc" / "trial-3"
    assert stored_artifact(str(inside), root) == "automtl-abc/trial-3"
    assert stored_artifact(str(tmp_path / "elsewhere" / "trial-1"), root) == \
        str(tmp_path / "elsewhere" / "trial-1")  # outside the root: kept as it is
    assert stored_artifact(None, root) is None
