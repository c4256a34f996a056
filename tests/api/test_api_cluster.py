"""Scale-out without Docker (issue 22, item 3): a real two-node Ray cluster (``ray start --head``
plus a second node with a custom ``gpu_like`` resource), two ``automtl worker`` processes on one
PostgreSQL database and three queued jobs, one of which needs ``gpu_like``.

Worker A runs its trials on the two-node cluster; worker B starts a local one-CPU Ray per job
and so cannot serve the ``gpu_like`` job. Every job must run once, on a worker that can serve
it, and A's trials must land on both nodes (each trial row records its Ray node id). Light on
purpose: one CPU per node, two trials per job, two epochs on 400 rows. Run with ``-s`` to see
the jobs, the workers and the node of each trial. Every process it starts (Ray nodes, workers and
their Ray) runs in a session of its own and is killed by session at the end; ``ray stop`` is
never used, since it would stop every Ray on the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import TINY_SPACE, create_token, make_settings
from fastapi.testclient import TestClient

from automtl_api.demo_service import free_port
from automtl_api.main import create_app
from automtl_api.settings import Settings
from automtl_storage import (
    Database,
    Job,
    JobStatus,
    TrialRepository,
    TrialState,
    WorkerRepository,
    upgrade,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

VENV_BIN = Path(sys.executable).parent
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
           "TUNE_DISABLE_SIGINT_HANDLER": "1"}

#: prints the alive nodes once there are ``want``: [{"id": ..., "resources": {...}}, ...]
_NODES_SCRIPT = """
import json, sys, time, ray
ray.init(address=sys.argv[1], log_to_driver=False)
deadline = time.monotonic() + 120
while True:
    nodes = [n for n in ray.nodes() if n["Alive"]]
    if len(nodes) >= int(sys.argv[2]) or time.monotonic() > deadline:
        break
    time.sleep(0.5)
print(json.dumps([{"id": n["NodeID"], "resources": n["Resources"]} for n in nodes]))
"""


def _spec(name: str, **resources: Any) -> dict[str, Any]:
    return {"name": name, "dataset": {"builtin": "synthetic", "rows": 400, "features": 4},
            "tasks": [{"name": "y1"}, {"name": "y2"}], "search_space": TINY_SPACE,
            "sampler": "random", "budget": {"trials": 2, "concurrency": 2, "epochs": 2},
            "resources": {"cpus_per_trial": 1, **resources}}


def _wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class Processes:
    """Processes started in sessions of their own; :meth:`stop_all` ends each session."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        sessions = {process.pid for process in self.started}
        for process in reversed(self.started):  # workers first, then the nodes (cleanly)
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
        # whatever is left in those sessions: Ray's daemons, trial workers, local Rays
        for _ in range(3):
            leftovers = _pids_in_sessions(sessions)
            if not leftovers:
                break
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(1.0)
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


def _pids_in_sessions(sessions: set[int]) -> list[int]:
    """Live processes whose session id is one of ``sessions`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        state, session = fields[0], int(fields[3])
        if session in sessions and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    try:
        yield started
    finally:
        started.stop_all()


def _ray_node(processes: Processes, log: Path, *args: str) -> None:
    processes.start([str(VENV_BIN / "ray"), "start", "--block", "--disable-usage-stats",
                     "--num-cpus=1", "--num-gpus=0", "--object-store-memory=100000000",
                     f"--dashboard-agent-listen-port={free_port()}", *args],
                    {**os.environ, **RAY_ENV}, log)


def _jobs(settings: Settings) -> dict[str, Job]:
    with Database(settings.resolved_database_url) as database, database.session() as session:
        return {job.name: job for job in session.query(Job).all()}


@pytest.fixture
def ray_temp_dir() -> Iterator[Path]:
    """A short temp dir for the cluster: Ray's socket paths must stay under 108 bytes, which a
    pytest tmp_path does not."""
    path = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_two_workers_share_a_two_node_cluster_by_resources(
        postgres_database_url: str, tmp_path: Path, ray_temp_dir: Path,
        processes: Processes) -> None:
    settings = make_settings(tmp_path, database_url=postgres_database_url,
                             heartbeat_interval_s=1.0, stale_after_s=30.0, poll_interval_s=0.5)
    upgrade(settings.resolved_database_url)
    log = tmp_path / "cluster.log"

    # the cluster: a head (1 CPU) and a second node (1 CPU and one gpu_like)
    port = free_port()
    address = f"127.0.0.1:{port}"
    _ray_node(processes, log, "--head", f"--port={port}", "--include-dashboard=false",
              f"--temp-dir={ray_temp_dir}")
    _wait_for(lambda: "Ray runtime started" in log.read_text(errors="replace")
              or processes.started[0].poll() is not None, 120, "the Ray head")
    assert processes.started[0].poll() is None, log.read_text()[-3000:]
    _ray_node(processes, log, f"--address={address}", '--resources={"gpu_like": 1}')
    listed = subprocess.run([sys.executable, "-c", _NODES_SCRIPT, address, "2"],
                            env={**os.environ, **RAY_ENV}, capture_output=True, text=True,
                            timeout=180)
    nodes = json.loads(listed.stdout.strip().splitlines()[-1])
    assert len(nodes) == 2, (listed.stderr[-2000:], log.read_text()[-3000:])
    gpu_like_node = next(n["id"] for n in nodes if n["resources"].get("gpu_like") == 1)
    head_node = next(n["id"] for n in nodes if n["id"] != gpu_like_node)

    headers = create_token(settings, "alice")
    with TestClient(create_app(settings)) as client:
        for spec in (_spec("cpu-first"), _spec("cpu-second"),
                     _spec("needs-gpu-like", custom={"gpu_like": 1})):
            response = client.post("/api/v1/jobs", headers=headers, json=spec)
            assert response.status_code == 202, response.text
        gpu_like_id = _jobs(settings)["needs-gpu-like"].id
        waiting = client.get(f"/api/v1/jobs/{gpu_like_id}", headers=headers).json()
        assert "none is registered" in waiting["waiting_reason"]

    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOMTL_")}
    worker_log = tmp_path / "workers.log"
    # worker A: trials on the two-node cluster; worker B: a local 1-CPU Ray per job
    env_a = {**base_env, **settings.environment(), **RAY_ENV, "AUTOMTL_RAY_ADDRESS": address}
    processes.start([sys.executable, "-m", "automtl.cli", "worker"], env_a, worker_log)
    first = _wait_for(lambda: _jobs(settings)["cpu-first"].worker_id, 180,
                      "worker A to claim the oldest job")
    env_b = {**base_env, **settings.environment(), **RAY_ENV, "AUTOMTL_RAY_NUM_CPUS": "1"}
    processes.start([sys.executable, "-m", "automtl.cli", "worker"], env_b, worker_log)

    def all_ended() -> bool:
        return all(job.status.is_terminal for job in _jobs(settings).values())

    try:
        _wait_for(all_ended, 540, "every job to end")
    except AssertionError:
        raise AssertionError(worker_log.read_text(errors="replace")[-4000:]) from None
    jobs = _jobs(settings)
    with Database(settings.resolved_database_url) as database, database.session() as session:
        workers = {w.id: w.nodes for w in WorkerRepository(session).live(60)}
        trials = {name: TrialRepository(session).list_for_job(job.id)
                  for name, job in jobs.items()}

    print("\n[two-node cluster] nodes:", {head_node: "head (CPU 1)",
                                          gpu_like_node: "node 2 (CPU 1, gpu_like 1)"})
    print("[two-node cluster] workers:", json.dumps(workers))
    for name, job in sorted(jobs.items(), key=lambda item: item[1].id):
        placed = [(t.number, t.state.value, t.ray_node_id) for t in trials[name]]
        print(f"[two-node cluster] job {job.id} {name}: {job.status.value} by {job.worker_id} "
              f"(attempts {job.attempts}); trials (number, state, node): {placed}")

    for name, job in jobs.items():
        assert job.status is JobStatus.SUCCEEDED, (name, job.error)
        assert job.attempts == 1, name  # each job ran once
        assert [t.state for t in trials[name]] == [TrialState.COMPLETE] * 2, name
    worker_b = next(w for w in workers if w != first)
    assert workers[first] and any("gpu_like" in node for node in workers[first])
    assert workers[worker_b] == [{"CPU": 1.0, "GPU": 0.0}]
    # only worker A's cluster has a gpu_like node: the job that needs it ran there, on node 2
    assert jobs["needs-gpu-like"].worker_id == first
    assert {t.ray_node_id for t in trials["needs-gpu-like"]} == {gpu_like_node}
    # worker A's trials spread over both nodes of the cluster
    on_a = {t.ray_node_id for name, job in jobs.items() if job.worker_id == first
            for t in trials[name]}
    assert {head_node, gpu_like_node} <= on_a
    # worker B's trials ran on its own local Ray, on neither cluster node
    on_b = {t.ray_node_id for name, job in jobs.items() if job.worker_id == worker_b
            for t in trials[name]}
    assert on_b.isdisjoint({head_node, gpu_like_node})
