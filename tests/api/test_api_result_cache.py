"""The cache of rendered fronts and reports (issue 20 item 1): one render per version of a job,
concurrent requests wait for it, a landing trial renders again, a running job's entry expires,
and ETag/304 follow the page."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import optuna
import pytest
from api_support import tiny_spec
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from automtl.search.study import check_study
from automtl.trial_record import ATTR_CANDIDATE, ATTR_VALID
from automtl_api.report_cache import ResultCache
from automtl_storage import Database, JobRepository, JobStatus, optuna_storage

# -- the cache itself ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_concurrent_callers_of_one_key_share_one_render():
    cache = ResultCache()
    callers = 6
    release = threading.Event()

    def render() -> object:
        # hold the render until every other caller is waiting on it (or give up: then the
        # others would each render too and the count below fails)
        deadline = time.monotonic() + 10
        while cache.waits < callers - 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        return object()

    with ThreadPoolExecutor(callers) as pool:
        values = list(pool.map(lambda _: cache.get_or_render("k", render, 5.0), range(callers)))
    assert release.is_set()
    assert cache.renders == 1 and cache.waits == callers - 1
    assert all(v is values[0] for v in values)


def test_a_failed_render_reaches_its_waiters_and_is_not_kept():
    cache = ResultCache()
    started = threading.Event()
    go = threading.Event()

    def failing() -> str:
        started.set()
        go.wait(10)
        raise RuntimeError("render broke")

    with ThreadPoolExecutor(2) as pool:
        leader = pool.submit(cache.get_or_render, "k", failing)
        started.wait(10)
        waiter = pool.submit(cache.get_or_render, "k", lambda: "never called")
        deadline = time.monotonic() + 10
        while cache.waits < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        go.set()
        for future in (leader, waiter):
            with pytest.raises(RuntimeError, match="render broke"):
                future.result(timeout=10)
    assert len(cache) == 0
    assert cache.get_or_render("k", lambda: "fresh") == "fresh"


def test_live_entries_expire_after_their_ttl_and_final_ones_stay():
    clock = Clock()
    cache = ResultCache(clock=clock)
    assert cache.get_or_render("live", lambda: 1, ttl_s=5.0) == 1
    assert cache.get_or_render("final", lambda: "a") == "a"
    clock.now += 4.9
    assert cache.get_or_render("live", lambda: 2, ttl_s=5.0) == 1
    clock.now += 0.2
    assert cache.get_or_render("live", lambda: 2, ttl_s=5.0) == 2
    clock.now += 10**6
    assert cache.get_or_render("final", lambda: "b") == "a"
    assert cache.renders == 3


def test_an_expired_entry_answers_while_one_caller_refreshes_it():
    clock = Clock()
    cache = ResultCache(clock=clock)
    cache.get_or_render("live", lambda: "old", ttl_s=5.0)
    clock.now += 6
    refreshing, done = threading.Event(), threading.Event()

    def slow() -> str:
        refreshing.set()
        done.wait(10)
        return "new"

    with ThreadPoolExecutor(1) as pool:
        leader = pool.submit(cache.get_or_render, "live", slow, 5.0)
        assert refreshing.wait(10)
        assert cache.get_or_render("live", lambda: "never", 5.0) == "old"
        assert cache.stale == 1 and cache.waits == 0
        done.set()
        assert leader.result(timeout=10) == "new"
    assert cache.get_or_render("live", lambda: "never", 5.0) == "new"
    # a key never rendered has nothing to answer with: its callers wait for the render
    assert cache.get_or_render("other", lambda: 1, 5.0) == 1


def test_the_cache_keeps_at_most_its_entries_least_recently_used_out_first():
    cache = ResultCache(entries=2)
    cache.get_or_render("a", lambda: 1)
    cache.get_or_render("b", lambda: 2)
    cache.get_or_render("a", lambda: 0)  # a is now the most recent
    cache.get_or_render("c", lambda: 3)
    assert len(cache) == 2
    assert cache.get_or_render("a", lambda: -1) == 1
    assert cache.get_or_render("b", lambda: 22) == 22
    with pytest.raises(ValueError, match="entries"):
        ResultCache(entries=0)


# -- through the API -------------------------------------------------------------------------

DISTRIBUTIONS = {"topology": CategoricalDistribution(["mmoe", "single_task"])}


def _running_job(client, headers, settings) -> dict[str, Any]:
    job = client.post("/api/v1/jobs", headers=headers,
                      json=tiny_spec({"builtin": "synthetic", "rows": 500})).json()
    from automtl.jobspec import load_job_spec

    spec = load_job_spec(tiny_spec({"builtin": "synthetic", "rows": 500}))
    study = optuna.create_study(study_name=job["study_name"],
                                storage=optuna_storage(settings.resolved_database_url),
                                directions=["maximize", "maximize"])
    check_study(study, spec)
    with Database(settings.resolved_database_url) as database, database.session() as session:
        row = JobRepository(session).get(job["id"])
        row.status = JobStatus.RUNNING
    return job


def _land_trial(settings, job: dict[str, Any], y1: float, y2: float) -> None:
    """What the worker does when a trial ends: tell the study, then update the job's counters."""
    study = optuna.load_study(study_name=job["study_name"],
                              storage=optuna_storage(settings.resolved_database_url))
    study.add_trial(create_trial(
        state=TrialState.COMPLETE, values=[y1, y2], params={"topology": "mmoe"},
        distributions=DISTRIBUTIONS,
        user_attrs={ATTR_CANDIDATE: {"architecture": {"topology": "mmoe"},
                                     "weighting": {"name": "equal", "params": {}}},
                    ATTR_VALID: {"y1": {"auc": y1}, "y2": {"auc": y2}}}))
    finished = len(study.trials)
    with Database(settings.resolved_database_url) as database, database.session() as session:
        JobRepository(session).update_progress(job["id"], trials_finished=finished,
                                               front_size=len(study.best_trials))


def test_a_running_jobs_report_renders_again_when_a_trial_lands(client, alice, settings):
    job = _running_job(client, alice, settings)
    cache = client.app.state.result_cache
    url = f"/api/v1/jobs/{job['id']}/report"
    first = client.get(url, headers=alice)
    renders = cache.renders
    for _ in range(3):
        again = client.get(url, headers=alice)
        assert again.text == first.text and again.headers["etag"] == first.headers["etag"]
    assert cache.renders == renders  # the same version: served from the cache
    assert client.get(url, headers={**alice, "If-None-Match": first.headers["etag"]}
                      ).status_code == 304

    _land_trial(settings, job, 0.71, 0.62)
    landed = client.get(url, headers={**alice, "If-None-Match": first.headers["etag"]})
    assert landed.status_code == 200 and cache.renders == renders + 1
    assert landed.headers["etag"] != first.headers["etag"]
    assert "1 of 4 trials complete" in landed.text and "0 of 4" in first.text
    assert client.get(url, headers={**alice, "If-None-Match": landed.headers["etag"]}
                      ).status_code == 304


def test_a_running_jobs_front_follows_its_trials(client, alice, settings):
    job = _running_job(client, alice, settings)
    url = f"/api/v1/jobs/{job['id']}/pareto"
    assert client.get(url, headers=alice).json()["trials"] == []
    _land_trial(settings, job, 0.71, 0.62)
    front = client.get(url, headers=alice).json()
    assert [t["values"] for t in front["trials"]] == [{"y1": 0.71, "y2": 0.62}]
    _land_trial(settings, job, 0.75, 0.66)  # dominates the first
    front = client.get(url, headers=alice).json()
    assert front["n_trials"] == 2
    assert [t["values"] for t in front["trials"]] == [{"y1": 0.75, "y2": 0.66}]
    assert "0.75" in client.get(f"{url}?format=csv", headers=alice).text


def test_a_running_jobs_entry_expires_for_what_counters_do_not_show(client, alice, settings):
    job = _running_job(client, alice, settings)
    client.app.state.settings.live_results_ttl_s = 0.0  # every request renders again
    url = f"/api/v1/jobs/{job['id']}/pareto"
    assert client.get(url, headers=alice).json()["trials"] == []
    # a trial the counters do not show yet (the worker writes them after the study)
    study = optuna.load_study(study_name=job["study_name"],
                              storage=optuna_storage(settings.resolved_database_url))
    study.add_trial(create_trial(state=TrialState.COMPLETE, values=[0.7, 0.6],
                                 params={"topology": "mmoe"}, distributions=DISTRIBUTIONS))
    assert len(client.get(url, headers=alice).json()["trials"]) == 1


def test_concurrent_report_requests_render_once(client, alice, settings, monkeypatch):
    import automtl_api.routes.pareto as pareto

    job = _running_job(client, alice, settings)
    cache = client.app.state.result_cache
    requests = 5
    real = pareto.job_report

    def slow_report(*args: Any, **kwargs: Any) -> str:
        deadline = time.monotonic() + 10  # wait until the other requests wait for this one
        while cache.waits < requests - 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        return real(*args, **kwargs)

    monkeypatch.setattr(pareto, "job_report", slow_report)
    url = f"/api/v1/jobs/{job['id']}/report"
    with ThreadPoolExecutor(requests) as pool:
        pages = list(pool.map(lambda _: client.get(url, headers=alice), range(requests)))
    assert {p.status_code for p in pages} == {200}
    assert len({p.headers["etag"] for p in pages}) == 1
    assert cache.renders == 1 and cache.waits == requests - 1


def test_another_owner_never_reads_a_cached_page(client, alice, bob, settings):
    job = _running_job(client, alice, settings)
    assert client.get(f"/api/v1/jobs/{job['id']}/report", headers=alice).status_code == 200
    assert client.get(f"/api/v1/jobs/{job['id']}/report", headers=bob).status_code == 404
    assert client.get(f"/api/v1/jobs/{job['id']}/pareto", headers=bob).status_code == 404


def test_a_queued_jobs_page_is_kept_until_its_version_changes(client, alice, settings):
    """Nothing writes a queued job's study: its page does not expire with the live TTL (50
    clients polling a queued job had re-rendered it every 5 s); claimed, it renders again."""
    job = client.post("/api/v1/jobs", headers=alice,
                      json=tiny_spec({"builtin": "synthetic", "rows": 500})).json()
    assert job["status"] == "queued"
    client.app.state.settings.live_results_ttl_s = 0.0  # a running job's entry: never reused
    cache = client.app.state.result_cache
    url = f"/api/v1/jobs/{job['id']}/report"
    first = client.get(url, headers=alice)
    renders = cache.renders
    for _ in range(3):
        assert client.get(url, headers=alice).headers["etag"] == first.headers["etag"]
    assert cache.renders == renders
    _running_job_from(settings, job)  # a worker claimed it: a new version, rendered again
    client.get(url, headers=alice)
    client.get(url, headers=alice)
    assert cache.renders == renders + 2  # running, with a TTL of 0: every request renders


def _running_job_from(settings, job: dict[str, Any]) -> None:
    with Database(settings.resolved_database_url) as database, database.session() as session:
        row = JobRepository(session).get(job["id"])
        row.status = JobStatus.RUNNING


def test_the_front_has_an_etag_and_304_until_a_trial_lands(client, alice, settings):
    job = _running_job(client, alice, settings)
    url = f"/api/v1/jobs/{job['id']}/pareto"
    first = client.get(url, headers=alice)
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.json()["trials"] == []
    assert client.get(url, headers=alice).headers["etag"] == etag  # the same bytes again
    unchanged = client.get(url, headers={**alice, "If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    csv = client.get(f"{url}?format=csv", headers=alice)
    assert csv.headers["etag"] != etag and "attachment" in csv.headers["content-disposition"]
    assert client.get(f"{url}?format=csv", headers={
        **alice, "If-None-Match": csv.headers["etag"]}).status_code == 304

    _land_trial(settings, job, 0.71, 0.62)
    landed = client.get(url, headers={**alice, "If-None-Match": etag})
    assert landed.status_code == 200 and landed.headers["etag"] != etag
    assert [t["values"] for t in landed.json()["trials"]] == [{"y1": 0.71, "y2": 0.62}]
    assert client.get(url, headers={**alice, "If-None-Match": landed.headers["etag"]}
                      ).status_code == 304
    gzipped = client.get(url, headers={**alice, "Accept-Encoding": "gzip"})
    assert gzipped.headers.get("content-encoding") == "gzip"
    assert gzipped.json() == landed.json()
