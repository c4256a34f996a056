"""The worker: heartbeats independent of trials, cancel and takeover detection, atomic claims
across workers, failures recorded on the job, cancelling a running search, and a worker killed
mid-job whose job another worker finishes with exactly its budget."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from api_support import create_token, make_settings, tiny_csv, tiny_spec
from fastapi.testclient import TestClient

from automtl_api.main import create_app
from automtl_api.settings import Settings
from automtl_api.worker import Heartbeat, JobCallbacks, Worker
from automtl_storage import (
    Database,
    JobRepository,
    JobStatus,
    OwnerRepository,
    TrialRepository,
    TrialState,
    optuna_storage,
    upgrade,
)


def wait_for(condition: Callable[[], Any], timeout: float, what: str,
             interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _queued_job(settings: Settings, spec: dict[str, Any] | None = None) -> int:
    with Database(settings.resolved_database_url) as database, database.session() as session:
        owner = OwnerRepository(session).get_or_create("alice")
        job = JobRepository(session).create(owner.id, "job", spec or tiny_spec(
            {"builtin": "synthetic", "rows": 500}))
        return job.id


def _job(settings: Settings, job_id: int) -> Any:
    with Database(settings.resolved_database_url) as database, database.session() as session:
        return JobRepository(session).get(job_id)


def test_the_cancel_is_read_between_heartbeats(settings):
    """A heartbeat every minute, the cancel read every 0.1 s: the cancel is heard while the
    heartbeat has not beaten again (its row's heartbeat_at unchanged)."""
    job_id = _queued_job(settings)
    database = Database(settings.resolved_database_url)
    try:
        with database.session() as session:
            assert JobRepository(session).claim_next("w1") is not None
        heartbeat = Heartbeat(database, job_id, "w1", interval=60.0, cancel_poll=0.1).start()
        try:
            beaten = _job(settings, job_id).heartbeat_at  # start() beats once
            with database.session() as session:
                JobRepository(session).request_cancel(job_id)
            wait_for(lambda: heartbeat.cancelled, 30, "the cancel request")
            assert _job(settings, job_id).heartbeat_at == beaten
        finally:
            heartbeat.stop()
    finally:
        database.dispose()


def test_the_heartbeat_runs_on_its_own_and_hears_cancel_and_takeover(settings):
    job_id = _queued_job(settings)
    database = Database(settings.resolved_database_url)
    try:
        with database.session() as session:
            claimed = JobRepository(session).claim_next("w1")
            assert claimed is not None
            first = claimed.heartbeat_at
        heartbeat = Heartbeat(database, job_id, "w1", interval=0.2).start()
        try:
            # no trial ever reports: the thread alone moves the heartbeat forward
            wait_for(lambda: _job(settings, job_id).heartbeat_at > first, 10, "a heartbeat")
            assert not heartbeat.cancelled and not heartbeat.lost
            with database.session() as session:
                JobRepository(session).request_cancel(job_id)
            wait_for(lambda: heartbeat.cancelled, 10, "the cancel request")
            with database.session() as session:  # another worker takes the job over
                session.get(type(claimed), job_id).worker_id = "w2"
            wait_for(lambda: heartbeat.lost, 10, "the lost job")
        finally:
            heartbeat.stop()
    finally:
        database.dispose()


def test_job_callbacks_survive_pickling_by_ray_tune(settings):
    job_id = _queued_job(settings)
    database = Database(settings.resolved_database_url)
    try:
        job = _job(settings, job_id)
        callbacks = JobCallbacks(database, job, ["y1", "y2"], None, threading.Event())
        copy = pickle.loads(pickle.dumps(callbacks))
        assert copy.should_stop() is False
        copy.on_trial_start(0, {"topology": "mmoe"})
        with database.session() as session:
            row = TrialRepository(session).get(job_id, 0)
            assert row is not None and row.state is TrialState.RUNNING
            assert row.params == {"topology": "mmoe"}
    finally:
        database.dispose()


def test_a_job_whose_data_is_gone_fails_with_the_reason(client, alice, upload, settings):
    dataset = upload(alice)
    job = client.post("/api/v1/jobs", headers=alice, json=tiny_spec({"id": dataset["id"]}))
    for stored in settings.upload_dir.iterdir():
        stored.unlink()
    worker = Worker(settings)
    try:
        assert worker.run_once() == job.json()["id"]
    finally:
        worker.close()
    failed = client.get(f"/api/v1/jobs/{job.json()['id']}", headers=alice).json()
    assert failed["status"] == "failed"
    assert "no such file" in failed["error"] and failed["finished_at"] is not None


def test_two_workers_never_claim_the_same_job(database_url, tmp_path):
    url = database_url  # SQLite and PostgreSQL
    settings = make_settings(tmp_path, database_url=url)
    upgrade(url)
    job_ids = {_queued_job(settings) for _ in range(12)}
    workers = [Worker(settings, worker_id=f"w{i}") for i in range(2)]
    claims: dict[str, list[int]] = {w.worker_id: [] for w in workers}
    start = threading.Barrier(2)

    def claim_all(worker: Worker) -> None:
        start.wait()
        while (job_id := worker.claim()) is not None:
            claims[worker.worker_id].append(job_id)

    threads = [threading.Thread(target=claim_all, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for worker in workers:
        worker.close()
    everything = claims["w0"] + claims["w1"]
    assert sorted(everything) == sorted(job_ids) and len(set(everything)) == len(everything)
    for worker_id, ids in claims.items():
        assert all(_job(settings, i).worker_id == worker_id for i in ids)


@pytest.mark.slow
def test_cancelling_a_running_job_stops_it_and_keeps_its_results(client, alice, upload,
                                                                 settings, monkeypatch):
    import ray

    dataset = upload(alice)
    job = client.post("/api/v1/jobs", headers=alice,
                      json=tiny_spec({"id": dataset["id"]}, trials=40)).json()
    # the job is recorded cancelled before the search shuts its Ray down, not after
    status_at_shutdown: list[str] = []
    shutdown = ray.shutdown

    def recording_shutdown(*args: Any, **kwargs: Any) -> None:
        status_at_shutdown.append(_job(settings, job["id"]).status.value)
        shutdown(*args, **kwargs)

    monkeypatch.setattr(ray, "shutdown", recording_shutdown)
    worker = Worker(settings)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    try:
        wait_for(lambda: client.get(f"/api/v1/jobs/{job['id']}/trials?state=complete",
                                    headers=alice).json()["items"], 240, "a finished trial")
        running = client.get(f"/api/v1/jobs/{job['id']}/pareto", headers=alice).json()
        assert running["status"] == "running"  # the front answers while the job runs
        assert running["n_trials"] >= 1 and running["trials"]
        cancel = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice)
        assert cancel.status_code == 200 and cancel.json()["cancel_requested"]
        thread.join(timeout=240)
        assert not thread.is_alive()
    finally:
        worker.stop.set()
        thread.join(timeout=60)
        worker.close()
    ended = client.get(f"/api/v1/jobs/{job['id']}", headers=alice).json()
    assert ended["status"] == "cancelled" and ended["error"] is None
    assert status_at_shutdown == ["cancelled"]
    trials = client.get(f"/api/v1/jobs/{job['id']}/trials", headers=alice).json()["items"]
    complete = [t for t in trials if t["state"] == "complete"]
    assert 1 <= len(complete) < 40
    assert not [t for t in trials if t["state"] == "running"]
    assert all(t["params"] for t in trials)  # no row for a trial that never started
    # the trials the cancel stopped are interrupted, not failures
    assert not [t for t in trials if t["state"] == "failed"]
    assert ended["progress"]["failed"] == 0
    assert ended["progress"]["interrupted"] == len(
        [t for t in trials if t["state"] == "interrupted"])
    assert ended["progress"]["running"] == 0
    front = client.get(f"/api/v1/jobs/{job['id']}/pareto", headers=alice).json()
    assert front["status"] == "cancelled" and front["n_trials"] == len(complete)
    assert {t["number"] for t in front["trials"]} <= {t["number"] for t in complete}

    # resumed: the export's 409 said "the interrupted trials are retried", but over REST a
    # new submit started a new study from zero; POST /jobs/{id}/resume queues this job again
    # with its study, and the worker that claims it keeps the finished trials and retries the
    # interrupted ones
    resumed = client.post(f"/api/v1/jobs/{job['id']}/resume", headers=alice)
    assert resumed.status_code == 200, resumed.text
    assert (resumed.json()["status"], resumed.json()["study_name"],
            resumed.json()["cancel_requested"], resumed.json()["cancel_outcome"]) == (
        "queued", job["study_name"], False, None)
    again = client.post(f"/api/v1/jobs/{job['id']}/resume", headers=alice)
    assert again.status_code == 409 and "is queued" in again.json()["detail"][0]["msg"]
    from automtl.search.study import open_storage
    from automtl.trial_record import ATTR_RETRY_OF, stored_attrs

    interrupted = {t["number"] for t in trials if t["state"] == "interrupted"}
    kept = {t["number"]: t["values"] for t in complete}

    def retried() -> bool:
        study = optuna.load_study(study_name=job["study_name"],
                                  storage=open_storage(settings.resolved_database_url))
        ran = [t for t in study.get_trials(deepcopy=False)
               if t.state != optuna.trial.TrialState.WAITING and t.number not in kept
               and t.number not in interrupted]
        return bool(ran) and interrupted <= {stored_attrs(t).get(ATTR_RETRY_OF) for t in ran}

    worker = Worker(settings)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    try:
        wait_for(retried, 240, "the interrupted trials run again")
        assert _job(settings, job["id"]).status.value == "running"
        client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice)
        thread.join(timeout=240)
        assert not thread.is_alive()
    finally:
        worker.stop.set()
        thread.join(timeout=60)
        worker.close()
    after = client.get(f"/api/v1/jobs/{job['id']}/trials", headers=alice).json()["items"]
    # the first run's complete trials are kept as they were
    assert {t["number"]: t["values"] for t in after if t["number"] in kept} == kept


def _start_worker(settings: Settings, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings.environment(), "TUNE_DISABLE_SIGINT_HANDLER": "1"}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "automtl.cli", "worker", *extra],
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


@pytest.mark.slow
def test_a_killed_workers_job_is_finished_by_another_with_no_trial_lost(tmp_path):
    settings = make_settings(tmp_path, heartbeat_interval_s=0.5, stale_after_s=3.0)
    upgrade(settings.resolved_database_url)
    headers = create_token(settings, "alice")
    budget = 5
    with TestClient(create_app(settings)) as client:
        dataset = client.post("/api/v1/datasets", headers=headers,
                              files={"file": ("tiny.csv", tiny_csv())}).json()
        job = client.post("/api/v1/jobs", headers=headers,
                          json=tiny_spec({"id": dataset["id"]}, trials=budget)).json()
    storage = optuna_storage(settings.resolved_database_url)
    log = tmp_path / "workers.log"

    def complete_trials() -> dict[int, list[float]]:
        try:
            study = optuna.load_study(study_name=job["study_name"], storage=storage)
        except KeyError:
            return {}
        return {t.number: t.values for t in study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))}

    first = _start_worker(settings, log)
    try:
        before = wait_for(complete_trials, 240, "the first finished trial", interval=0.1)
        os.kill(first.pid, signal.SIGKILL)  # the worker dies mid-job, no clean-up
        first.wait(timeout=30)
    finally:
        _kill_group(first)  # and whatever Ray processes it left
    assert len(before) < budget, "the worker was killed before the job ended"
    assert _job(settings, job["id"]).status is JobStatus.RUNNING  # nobody finished it

    second = _start_worker(settings, log, "--max-jobs", "1")
    try:
        assert second.wait(timeout=400) == 0, log.read_text()[-3000:]
    finally:
        _kill_group(second)
    ended = _job(settings, job["id"])
    assert ended.status is JobStatus.SUCCEEDED, (ended.error, log.read_text()[-3000:])
    assert ended.attempts == 2
    after = complete_trials()
    assert len(after) == budget  # exactly the budget of finished trials
    for number, values in before.items():  # none of those finished before the kill was lost
        assert after[number] == values
    with Database(settings.resolved_database_url) as database, database.session() as session:
        rows = TrialRepository(session).list_for_job(job["id"])
    assert sorted(r.number for r in rows if r.state is TrialState.COMPLETE) == sorted(after)
    assert not [r for r in rows if r.state is TrialState.RUNNING]
    # the trial the kill cut short is interrupted (migration 0008), not a failure
    assert not [r for r in rows if r.state is TrialState.FAILED]
    interrupted = [r for r in rows if r.state is TrialState.INTERRUPTED]
    assert all("interrupted" in (r.error or "") for r in interrupted)
    # `finished` counts every ended trial (issue 14): the budget's complete ones and the one
    # the kill interrupted
    assert ended.trials_finished == budget + len(interrupted)



def test_a_pruned_trial_row_keeps_its_epoch_and_rung_values() -> None:
    """What the trial list shows for an MO-ASHA-stopped trial."""
    from automtl.trial_record import TrialOutcome
    from automtl_api.schemas import TrialRead
    from automtl_api.worker import outcome_fields

    outcome = TrialOutcome(number=3, state="PRUNED", params={"topology": "mmoe"},
                           candidate={"architecture": {"topology": "mmoe"}}, values=None,
                           valid={"y1": {"auc": 0.61}}, pruned_epoch=1,
                           rungs={"1": {"objective/y1": 0.61, "objective/y2": 0.58}})
    fields = outcome_fields(outcome)
    assert fields["state"] == "pruned" and fields["pruned_epoch"] == 1
    assert fields["rung_values"] == {"1": {"objective/y1": 0.61, "objective/y2": 0.58}}
    assert fields["finished_at"] is not None
    assert {"pruned_epoch", "rung_values"} <= set(TrialRead.model_fields)


def test_a_running_jobs_answer_shows_the_stage_its_worker_reported(client, alice, settings):
    """A confirmation re-trains for minutes after the last trial: the job answer says so,
    run by run, instead of a bare ``running``; a queued or ended job shows no stage."""
    from automtl.search.callbacks import STAGES, Stage
    from automtl_api.schemas import JOB_STAGES

    assert JOB_STAGES == STAGES  # the REST schema documents every stage the runner reports
    job = client.post("/api/v1/jobs", headers=alice,
                      json=tiny_spec({"builtin": "synthetic", "rows": 500})).json()
    url = f"/api/v1/jobs/{job['id']}"
    assert client.get(url, headers=alice).json()["stage"] is None  # queued
    database = Database(settings.resolved_database_url)
    try:
        with database.session() as session:
            assert JobRepository(session).claim_next("w1") is not None
        callbacks = JobCallbacks(database, _job(settings, job["id"]), ["y1", "y2"], None,
                                 threading.Event())
        callbacks.on_stage(Stage("searching"))
        answer = client.get(url, headers=alice).json()
        assert (answer["status"], answer["stage"], answer["stage_detail"]) == (
            "running", "searching", None)
        callbacks.on_stage(Stage("confirming", 4, 15, "trial 12 (mmoe, front) seed 2/3"))
        answer = client.get(url, headers=alice).json()
        assert answer["stage"] == "confirming"
        assert answer["stage_detail"] == "4/15: trial 12 (mmoe, front) seed 2/3"
        listed = client.get("/api/v1/jobs", headers=alice).json()["items"]
        assert [j["stage"] for j in listed if j["id"] == job["id"]] == ["confirming"]
        with database.session() as session:
            JobRepository(session).finish(job["id"], JobStatus.SUCCEEDED)
        answer = client.get(url, headers=alice).json()
        assert (answer["stage"], answer["stage_detail"]) == (None, None)
    finally:
        database.dispose()


def test_a_cancelled_jobs_trial_list_has_no_unstarted_trial_and_no_cancel_as_failure(
        client, alice, settings):
    """New-user pass items 2 and 13: trials enqueued in the study but never started (coverage
    trials a cancel left WAITING) became "running" rows with params {} for good, and the trial
    the cancel stopped counted as failed. Now the unstarted ones have no row, the stopped one is
    ``interrupted``, and the trial list and the job's progress agree."""
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState as OptunaState
    from optuna.trial import create_trial

    from automtl.search.callbacks import trial_counts
    from automtl.trial_record import ATTR_ERROR, ATTR_INTERRUPTED

    job = client.post("/api/v1/jobs", headers=alice,
                      json=tiny_spec({"builtin": "synthetic", "rows": 500})).json()
    database = Database(settings.resolved_database_url)
    try:
        with database.session() as session:
            assert JobRepository(session).claim_next("w1") is not None
        study = optuna.create_study(study_name=job["study_name"],
                                    storage=optuna_storage(settings.resolved_database_url),
                                    directions=["maximize", "maximize"])
        x = {"x": FloatDistribution(0.0, 1.0)}
        study.add_trial(create_trial(params={"x": 0.1}, distributions=x, values=[0.7, 0.6]))
        study.add_trial(create_trial(
            params={"x": 0.2}, distributions=x, state=OptunaState.FAIL,
            user_attrs={ATTR_INTERRUPTED: True,
                        ATTR_ERROR: "interrupted before it finished (cancelled)"}))
        study.add_trial(create_trial(params={"x": 0.3}, distributions=x,
                                     state=OptunaState.FAIL,
                                     user_attrs={ATTR_ERROR: "ValueError: boom"}))
        for value in (0.4, 0.5, 0.6):  # coverage trials the cancel left unstarted
            study.enqueue_trial({"x": value})
        assert len(study.get_trials(states=(OptunaState.WAITING,))) == 3
        counts = trial_counts(study)
        assert (counts["complete"], counts["failed"], counts["interrupted"]) == (1, 1, 1)

        callbacks = JobCallbacks(database, _job(settings, job["id"]), ["y1", "y2"], None,
                                 threading.Event())
        callbacks.sync()
        with database.session() as session:
            JobRepository(session).update_progress(job["id"], trials_failed=counts["failed"])
            JobRepository(session).finish(job["id"], JobStatus.CANCELLED)
        url = f"/api/v1/jobs/{job['id']}"
        trials = client.get(f"{url}/trials", headers=alice).json()
        assert trials["total"] == 3
        assert {t["number"]: t["state"] for t in trials["items"]} == {
            0: "complete", 1: "interrupted", 2: "failed"}
        for state, total in (("running", 0), ("interrupted", 1), ("failed", 1)):
            assert client.get(f"{url}/trials?state={state}",
                              headers=alice).json()["total"] == total, state
        progress = client.get(url, headers=alice).json()["progress"]
        assert (progress["running"], progress["failed"], progress["interrupted"]) == (0, 1, 1)
    finally:
        database.dispose()
