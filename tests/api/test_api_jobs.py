"""``/jobs`` routes: submit (complete validation, REST-only dataset rules), list, get, cancel,
and the 401/404/409/422 answers."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import (
    TINY_SPACE,
    create_token,
    make_settings,
    paths_of,
    tiny_spec,
    write_census_dir,
)
from fastapi.testclient import TestClient

from automtl.jobspec import load_job_spec
from automtl_api.settings import Settings
from automtl_storage import Database, JobRepository, JobStatus, TrialRepository, TrialState


def submit(client: TestClient, headers: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/jobs", headers=headers, json=spec)
    assert response.status_code == 202, response.text
    return response.json()


def test_submit_stores_a_queued_job_with_the_validated_spec(client, alice, upload, settings):
    dataset = upload(alice)
    job = submit(client, alice, tiny_spec({"id": dataset["id"]}))
    assert job["status"] == "queued" and job["dataset_id"] == dataset["id"]
    assert job["progress"]["budget"] == 4 and job["progress"]["finished"] == 0
    detail = client.get(f"/api/v1/jobs/{job['id']}", headers=alice).json()
    # stored normalised: defaults filled, the format from the upload; the id answered as
    # the number the upload got, whether sent as a number or as text
    assert detail["spec"]["objectives"] == ["y1", "y2"]
    assert detail["spec"]["dataset"]["id"] == dataset["id"] == detail["dataset_id"]
    as_text = submit(client, alice, tiny_spec({"id": str(dataset["id"])}))
    echoed = client.get(f"/api/v1/jobs/{as_text['id']}", headers=alice).json()["spec"]
    assert echoed["dataset"]["id"] == dataset["id"]
    assert detail["spec"]["dataset"]["format"] == "csv"
    assert load_job_spec(detail["spec"]).search_space == TINY_SPACE
    with Database(settings.resolved_database_url) as database, database.session() as session:
        row = JobRepository(session).get(job["id"])
        assert row is not None and row.status == JobStatus.QUEUED


def test_every_endpoint_but_healthz_needs_a_token(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/healthz").json()["status"] == "ok"
    for method, path in [("POST", "/api/v1/jobs"), ("GET", "/api/v1/jobs"),
                         ("GET", "/api/v1/jobs/1"), ("POST", "/api/v1/jobs/1/cancel"),
                         ("GET", "/api/v1/jobs/1/trials"), ("GET", "/api/v1/jobs/1/pareto"),
                         ("GET", "/api/v1/jobs/1/report"), ("GET", "/api/v1/datasets"),
                         ("POST", "/api/v1/datasets"), ("GET", "/api/v1/search-spaces/presets"),
                         ("POST", "/api/v1/search-spaces/validate")]:
        response = client.request(method, path)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["detail"][0]["loc"] == ["header", "Authorization"]
    bad = client.get("/api/v1/jobs", headers={"Authorization": "Bearer amtl_not-a-token"})
    assert bad.status_code == 401 and "invalid" in bad.json()["detail"][0]["msg"]


def test_another_owners_job_is_404_everywhere(client, alice, bob, upload):
    job = submit(client, alice, tiny_spec({"id": upload(alice)["id"]}))
    for method, suffix in [("GET", ""), ("POST", "/cancel"), ("GET", "/trials"),
                           ("GET", "/pareto"), ("GET", "/pareto?format=csv"), ("GET", "/report")]:
        response = client.request(method, f"/api/v1/jobs/{job['id']}{suffix}", headers=bob)
        assert response.status_code == 404, (suffix, response.text)
        assert response.json()["detail"][0]["loc"] == ["path", "job_id"]
    assert client.get("/api/v1/jobs", headers=bob).json()["items"] == []
    missing = client.get("/api/v1/jobs/999", headers=alice)
    assert missing.status_code == 404 and "job 999 not found" in missing.json()["detail"][0]["msg"]


def test_an_invalid_spec_is_422_with_the_path_of_every_bad_field(client, alice, upload):
    dataset = upload(alice)
    spec = tiny_spec({"id": dataset["id"]}, budget={"trials": 0},
                     search_space={"topology": {"choose": {"hydra": {}}}},
                     tasks=[{"name": "y1", "metric": "mse"}, {"name": "nope"}])
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 422
    paths = paths_of(response)
    assert "budget.trials" in paths
    assert "search_space.topology.choose.hydra" in paths
    assert "tasks[0].metric" in paths
    assert "tasks[1].name" in paths  # the label column 'nope' is not in the upload
    item = response.json()["detail"][paths.index("budget.trials")]
    assert item["loc"] == ["body", "budget", "trials"]
    assert client.get("/api/v1/jobs", headers=alice).json()["items"] == []  # nothing stored


def test_a_budget_mo_asha_coverage_uses_up_is_422_at_budget_trials(client, alice, upload):
    dataset = upload(alice)
    spec = tiny_spec({"id": dataset["id"]}, trials=4, search_space={"preset": "default"},
                     scheduler={"name": "mo_asha"})
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 422 and paths_of(response) == ["budget.trials"]
    assert "use at least" in response.json()["detail"][0]["msg"]
    assert client.get("/api/v1/jobs", headers=alice).json()["items"] == []


def test_a_label_missing_from_the_uploaded_dataset_is_422(client, alice, upload):
    dataset = upload(alice)
    spec = tiny_spec({"id": dataset["id"]}, tasks=[{"name": "ctr", "label": "clicked"},
                                                   {"name": "y2"}])
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 422
    assert paths_of(response) == ["tasks[0].label"]
    message = response.json()["detail"][0]["msg"]
    assert message.startswith("task 'ctr': label column 'clicked' is not in the data; its "
                              "columns: ['x0', ")


def test_feature_and_split_columns_must_exist_and_labels_fit_the_task_type(client, alice,
                                                                           upload):
    dataset = upload(alice)
    spec = tiny_spec({"id": dataset["id"], "features": {"numeric": ["x0", "x99"]},
                      "split": {"column": "fold"}},
                     tasks=[{"name": "y1"}, {"name": "x1"}])
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 422
    assert sorted(paths_of(response)) == ["dataset.features.numeric[1]", "dataset.split.column",
                                          "tasks[1].type"]  # x1 is not 0/1: not binary


def test_a_server_path_is_refused_over_rest(client, alice, tmp_path):
    table = tmp_path / "secret.csv"
    table.write_bytes(b"a,b\n1,0\n")
    response = client.post("/api/v1/jobs", headers=alice,
                           json=tiny_spec({"path": str(table)}))
    assert response.status_code == 422
    assert paths_of(response) == ["dataset.path"]
    assert "upload the file" in response.json()["detail"][0]["msg"]


def test_a_dataset_of_another_owner_cannot_be_used(client, alice, bob, upload):
    theirs = upload(bob)
    response = client.post("/api/v1/jobs", headers=alice, json=tiny_spec({"id": theirs["id"]}))
    assert response.status_code == 422
    assert paths_of(response) == ["dataset.id"]
    assert "not found" in response.json()["detail"][0]["msg"]
    bad = client.post("/api/v1/jobs", headers=alice, json=tiny_spec({"id": "../etc/passwd"}))
    assert bad.status_code == 422 and paths_of(bad) == ["dataset.id"]


def test_census_income_reads_only_the_configured_directory(client, alice, tmp_path):
    census = {"builtin": "census-income"}
    tasks = [{"name": "income_over_50k"}, {"name": "never_married"}]
    unconfigured = client.post("/api/v1/jobs", headers=alice,
                               json=tiny_spec(census, tasks=tasks))
    assert unconfigured.status_code == 422 and paths_of(unconfigured) == ["dataset.builtin"]
    with_path = client.post("/api/v1/jobs", headers=alice,
                            json=tiny_spec({**census, "path": "/etc"}, tasks=tasks))
    assert with_path.status_code == 422 and paths_of(with_path) == ["dataset.path"]

    settings = make_settings(tmp_path, census_dir=write_census_dir(tmp_path / "census"))
    from automtl_api.main import create_app

    with TestClient(create_app(settings)) as configured:
        headers = create_token(settings, "carol")
        job = submit(configured, headers, tiny_spec(census, tasks=tasks))
        spec = configured.get(f"/api/v1/jobs/{job['id']}", headers=headers).json()["spec"]
        assert spec["dataset"]["path"] == "(AUTOMTL_CENSUS_DIR)"  # no server path is shown
        with Database(settings.resolved_database_url) as database, \
                database.session() as session:
            stored = JobRepository(session).get(job["id"])
            assert stored is not None
            assert stored.spec["dataset"]["path"] == str((tmp_path / "census").resolve())
        wrong = configured.post("/api/v1/jobs", headers=headers,
                                json=tiny_spec(census, tasks=[{"name": "salary"}]))
        assert wrong.status_code == 422 and paths_of(wrong) == ["tasks[0].name"]


def test_synthetic_builtin_labels_are_checked(client, alice):
    ok = submit(client, alice, tiny_spec({"builtin": "synthetic", "rows": 500, "features": 4}))
    assert ok["status"] == "queued"
    bad = client.post("/api/v1/jobs", headers=alice,
                      json=tiny_spec({"builtin": "synthetic"}, tasks=[{"name": "y3"}]))
    assert bad.status_code == 422 and paths_of(bad) == ["tasks[0].name"]


def test_a_body_that_is_not_an_object_is_422(client, alice):
    response = client.post("/api/v1/jobs", headers=alice, json=[1, 2])
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]
    text = client.post("/api/v1/jobs", headers={**alice, "Content-Type": "application/json"},
                       content=b"{not json")
    assert text.status_code == 422


def test_list_is_newest_first_paginated_and_filtered(client, alice, upload, settings):
    dataset = {"id": upload(alice)["id"]}
    ids = [submit(client, alice, tiny_spec(dataset, name=f"job-{i}"))["id"] for i in range(3)]
    page = client.get("/api/v1/jobs?limit=2", headers=alice).json()
    assert [j["id"] for j in page["items"]] == [ids[2], ids[1]] and page["has_more"]
    rest = client.get("/api/v1/jobs?limit=2&offset=2", headers=alice).json()
    assert [j["id"] for j in rest["items"]] == [ids[0]] and not rest["has_more"]
    client.post(f"/api/v1/jobs/{ids[1]}/cancel", headers=alice)
    cancelled = client.get("/api/v1/jobs?status=cancelled", headers=alice).json()["items"]
    assert [j["id"] for j in cancelled] == [ids[1]]
    queued = client.get("/api/v1/jobs?status=queued", headers=alice).json()["items"]
    assert [j["id"] for j in queued] == [ids[2], ids[0]]
    bad = client.get("/api/v1/jobs?status=done", headers=alice)
    assert bad.status_code == 422 and paths_of(bad) == ["status"]


def test_each_job_answer_counts_its_pruned_trials_from_the_trial_rows(client, alice, bob,
                                                                     upload, settings):
    dataset = {"id": upload(alice)["id"]}
    first, second, third = (submit(client, alice, tiny_spec(dataset, name=f"p{i}"))["id"]
                            for i in range(3))
    theirs = submit(client, bob, tiny_spec({"id": upload(bob)["id"]}, name="bobs"))["id"]
    states = {first: ["complete", "pruned", "failed", "pruned", "running"],
              second: ["pruned"], theirs: ["pruned", "pruned", "pruned"]}
    with Database(settings.resolved_database_url) as database, database.session() as session:
        trials = TrialRepository(session)
        for job_id, listed in states.items():
            for number, state in enumerate(listed):
                trials.upsert(job_id, number, state=state, params={},
                              pruned_epoch=1 if state == "pruned" else None)
        # refused at sampling: pruned without an epoch, counted too (as state=pruned lists it)
        trials.upsert(second, 1, state="pruned", params={})
    expected = {first: 2, second: 2, third: 0}
    for job_id, count in expected.items():
        detail = client.get(f"/api/v1/jobs/{job_id}", headers=alice).json()
        assert detail["progress"]["pruned"] == count
        listed = client.get(f"/api/v1/jobs/{job_id}/trials?state=pruned", headers=alice).json()
        assert listed["total"] == count
    page = client.get("/api/v1/jobs", headers=alice).json()["items"]
    assert {j["id"]: j["progress"]["pruned"] for j in page} == expected  # not bob's job's
    cancelled = client.post(f"/api/v1/jobs/{first}/cancel", headers=alice).json()
    assert cancelled["progress"]["pruned"] == 2


def test_cancel_a_queued_job_at_once_and_refuse_a_finished_one(client, alice, upload,
                                                               settings: Settings):
    job = submit(client, alice, tiny_spec({"id": upload(alice)["id"]}))
    cancelled = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancel_requested"]
    assert cancelled.json()["cancel_outcome"] == "applied"
    # a cancelled job has ended like any other: a second cancel is refused (README: "A
    # finished job's cancel answers 409")
    again = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice)
    assert again.status_code == 409, again.text
    assert "already cancelled" in again.json()["detail"][0]["msg"]

    other = submit(client, alice, tiny_spec({"builtin": "synthetic"}, name="done"))
    with Database(settings.resolved_database_url) as database, database.session() as session:
        jobs = JobRepository(session)
        assert jobs.claim_next("w1") is not None
        assert jobs.finish(other["id"], JobStatus.SUCCEEDED, worker_id="w1")
    refused = client.post(f"/api/v1/jobs/{other['id']}/cancel", headers=alice)
    assert refused.status_code == 409
    assert "already succeeded" in refused.json()["detail"][0]["msg"]


def test_a_succeeded_job_with_an_empty_front_says_it_left_nothing(client, alice, settings):
    """The new user's demo job: 16 trials, all pruned at the first rung, front 0, and
    'succeeded' with no word of it until the export's 409."""
    empty = submit(client, alice, tiny_spec({"builtin": "synthetic"}, name="empty"))
    full = submit(client, alice, tiny_spec({"builtin": "synthetic"}, name="full"))
    with Database(settings.resolved_database_url) as database, database.session() as session:
        jobs = JobRepository(session)
        for _ in (empty, full):
            assert jobs.claim_next("w1") is not None
        jobs.update_progress(empty["id"], trials_finished=4, trials_failed=1, front_size=0)
        jobs.update_progress(full["id"], trials_finished=4, front_size=2, hypervolume=0.3)
        for job in (empty, full):
            assert jobs.finish(job["id"], JobStatus.SUCCEEDED, worker_id="w1")
    detail = client.get(f"/api/v1/jobs/{empty['id']}", headers=alice).json()
    assert detail["status"] == "succeeded"
    assert detail["warnings"][0].startswith("the search ended without a result: no trial "
                                            "trained to its last epoch (0 stopped early "
                                            "(pruned), 1 failed)")
    assert "no model to export" in detail["warnings"][0]
    assert client.get(f"/api/v1/jobs/{full['id']}", headers=alice).json()["warnings"] == []
    from automtl_api.commands import _status_line

    assert _status_line(detail).splitlines()[1] == f"  warning: {detail['warnings'][0]}"


def test_only_a_cancelled_or_failed_job_is_resumed(client, alice, bob, settings):
    """POST /jobs/{id}/resume queues a cancelled or failed job again with its study (and
    clears its cancel and error); a queued, running or succeeded one answers 409."""
    jobs_of = {name: submit(client, alice, tiny_spec({"builtin": "synthetic"}, name=name))
               for name in ("cancelled", "failed", "succeeded", "running", "queued")}
    with Database(settings.resolved_database_url) as database, database.session() as session:
        jobs = JobRepository(session)
        for _ in range(4):
            assert jobs.claim_next("w1") is not None
        jobs.request_cancel(jobs_of["cancelled"]["id"])
        assert jobs.finish(jobs_of["cancelled"]["id"], JobStatus.CANCELLED, worker_id="w1")
        assert jobs.finish(jobs_of["failed"]["id"], JobStatus.FAILED, "boom", worker_id="w1")
        assert jobs.finish(jobs_of["succeeded"]["id"], JobStatus.SUCCEEDED, worker_id="w1")
    for name in ("succeeded", "running", "queued"):
        refused = client.post(f"/api/v1/jobs/{jobs_of[name]['id']}/resume", headers=alice)
        assert refused.status_code == 409, (name, refused.text)
        assert f"is {name}: only a cancelled or failed job" in refused.json()["detail"][0]["msg"]
    # another owner's job is not found, as for every job route
    assert client.post(f"/api/v1/jobs/{jobs_of['failed']['id']}/resume",
                       headers=bob).status_code == 404
    for name in ("cancelled", "failed"):
        job = jobs_of[name]
        answer = client.post(f"/api/v1/jobs/{job['id']}/resume", headers=alice)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["status"], body["study_name"], body["error"], body["cancel_requested"],
                body["finished_at"]) == ("queued", job["study_name"], None, False, None)
    with Database(settings.resolved_database_url) as database, database.session() as session:
        # the oldest queued job is claimed first: the resumed ones kept their place
        claimed = JobRepository(session).claim_next("w2")
        assert claimed is not None and claimed.id == jobs_of["cancelled"]["id"]


def test_finished_is_never_below_the_interrupted_pruned_and_failed_trials(client, alice,
                                                                          settings):
    """A queued job (given back by its worker) showed {'finished': 0, 'interrupted': 1}; the
    README says finished includes the interrupted trials."""
    job = submit(client, alice, tiny_spec({"builtin": "synthetic"}))
    with Database(settings.resolved_database_url) as database, database.session() as session:
        TrialRepository(session).upsert(job["id"], 0, state=TrialState.INTERRUPTED, params={})
        JobRepository(session).update_progress(job["id"], trials_finished=0, trials_failed=1)
    progress = client.get(f"/api/v1/jobs/{job['id']}", headers=alice).json()["progress"]
    assert (progress["finished"], progress["interrupted"], progress["failed"]) == (2, 1, 1)


def test_a_running_job_gets_a_cancel_request(client, alice, settings):
    job = submit(client, alice, tiny_spec({"builtin": "synthetic"}))
    with Database(settings.resolved_database_url) as database, database.session() as session:
        assert JobRepository(session).claim_next("w1") is not None
    response = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice).json()
    assert response["status"] == "running" and response["cancel_requested"] is True
    assert response["cancel_outcome"] == "pending"
    # asking again while it is pending changes nothing and is no conflict
    again = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice)
    assert again.status_code == 200 and again.json()["cancel_outcome"] == "pending"


@pytest.mark.parametrize("final, outcome", [(JobStatus.CANCELLED, "applied"),
                                            (JobStatus.SUCCEEDED, "too_late"),
                                            (JobStatus.FAILED, "too_late")])
def test_a_cancel_the_worker_did_not_act_on_in_time_says_so(client, alice, settings,
                                                             final, outcome):
    """A fast job's last trials can end before its worker reads the cancel (every heartbeat):
    the job keeps the status it ended with (its whole budget ran), and ``cancel_outcome``
    says the request came too late, so the answer is not ``succeeded`` beside a bare
    ``cancel_requested: true``."""
    job = submit(client, alice, tiny_spec({"builtin": "synthetic"}))
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=alice).json()["cancel_outcome"] \
        is None
    with Database(settings.resolved_database_url) as database, database.session() as session:
        assert JobRepository(session).claim_next("w1") is not None
    client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice)
    with Database(settings.resolved_database_url) as database, database.session() as session:
        assert JobRepository(session).finish(job["id"], final, worker_id="w1")
    detail = client.get(f"/api/v1/jobs/{job['id']}", headers=alice).json()
    assert (detail["status"], detail["cancel_requested"], detail["cancel_outcome"]) == (
        final.value, True, outcome)
    listed = client.get("/api/v1/jobs", headers=alice).json()["items"]
    assert [j["cancel_outcome"] for j in listed if j["id"] == job["id"]] == [outcome]


def test_a_queued_job_has_an_empty_front_and_a_report(client, alice):
    job = submit(client, alice, tiny_spec({"builtin": "synthetic"}))
    front = client.get(f"/api/v1/jobs/{job['id']}/pareto", headers=alice).json()
    assert front["trials"] == [] and front["hypervolume"] is None
    assert [o["name"] for o in front["objectives"]] == ["y1", "y2"]
    csv = client.get(f"/api/v1/jobs/{job['id']}/pareto?format=csv", headers=alice)
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.strip() == "trial,topology,weighting,y1,y2"
    report = client.get(f"/api/v1/jobs/{job['id']}/report", headers=alice)
    assert report.status_code == 200 and 'id="pareto-front"' in report.text
    assert client.get(f"/api/v1/jobs/{job['id']}/trials", headers=alice).json()["items"] == []


@pytest.mark.parametrize("fmt", ["xml", ""])
def test_an_unknown_pareto_format_is_422(client, alice, fmt):
    job = submit(client, alice, tiny_spec({"builtin": "synthetic"}))
    response = client.get(f"/api/v1/jobs/{job['id']}/pareto?format={fmt}", headers=alice)
    assert response.status_code == 422 and paths_of(response) == ["format"]


def test_a_gpu_job_no_worker_can_serve_says_why_it_waits(client, alice, settings):
    from automtl_storage import WorkerRepository

    spec = {**tiny_spec({"builtin": "synthetic"}),
            "resources": {"cpus_per_trial": 1, "gpus_per_trial": 1}}
    job = submit(client, alice, spec)
    detail = client.get(f"/api/v1/jobs/{job['id']}", headers=alice).json()
    assert detail["status"] == "queued" and "none is registered" in detail["waiting_reason"]
    with Database(settings.resolved_database_url) as database, database.session() as session:
        WorkerRepository(session).register("cpu-box:1", "cpu-box", [{"CPU": 2, "GPU": 0}])
    detail = client.get(f"/api/v1/jobs/{job['id']}", headers=alice).json()
    reason = detail["waiting_reason"]
    assert "no registered worker can serve this job" in reason
    assert "{CPU: 1, GPU: 1}" in reason and "cpu-box:1: {CPU: 2, GPU: 0}" in reason
    with Database(settings.resolved_database_url) as database, database.session() as session:
        assert JobRepository(session).claim_next("cpu-box:1",
                                                 nodes=[{"CPU": 2, "GPU": 0}]) is None
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=alice).json()["status"] == "queued"


def test_custom_resources_in_a_spec_are_validated_by_name(client, alice):
    spec = {**tiny_spec({"builtin": "synthetic"}),
            "resources": {"custom": {"GPU": 1, "gpu_like": -1}}}
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 422
    text = response.text
    assert "resources" in text and "custom" in text


def test_warm_start_names_one_of_the_owners_jobs(client, alice, bob, upload):
    dataset = upload(alice)
    earlier = submit(client, alice, tiny_spec({"id": dataset["id"]}))
    later = submit(client, alice, {**tiny_spec({"id": dataset["id"]}),
                                   "warm_start": {"job": earlier["id"]}})
    detail = client.get(f"/api/v1/jobs/{later['id']}", headers=alice).json()
    assert detail["spec"]["warm_start"]["job"] == earlier["id"]
    bobs = upload(bob)
    other = client.post("/api/v1/jobs", headers=bob, json={
        **tiny_spec({"id": bobs["id"]}), "warm_start": {"job": earlier["id"]}})
    assert other.status_code == 422 and paths_of(other) == ["warm_start.job"]
    folder = client.post("/api/v1/jobs", headers=alice, json={
        **tiny_spec({"id": dataset["id"]}), "warm_start": {"directory": "/tmp"}})
    assert folder.status_code == 422 and paths_of(folder) == ["warm_start.directory"]
    both = client.post("/api/v1/jobs", headers=alice, json={
        **tiny_spec({"id": dataset["id"]}), "warm_start": {"job": 1, "directory": "/tmp"}})
    assert both.status_code == 422 and paths_of(both) == ["warm_start"]


def test_scheduler_and_confirm_fields_are_validated_with_their_paths(client, alice, upload):
    dataset = upload(alice)
    bad = client.post("/api/v1/jobs", headers=alice, json={
        **tiny_spec({"id": dataset["id"]}),
        "scheduler": {"name": "hyperband", "reduction_factor": 1}, "confirm": {"seeds": 1}})
    assert bad.status_code == 422
    assert sorted(paths_of(bad)) == ["confirm.seeds", "scheduler.name",
                                     "scheduler.reduction_factor"]


def test_openapi_documents_every_field_of_the_job_body_with_an_example(client):
    """The POST /jobs body is JobSpec itself in /openapi.json, not a bare object."""
    from automtl.jobspec import JobSpec

    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/JobSpec"}
    assert body["example"]["tasks"] and body["example"]["dataset"] == {"id": "1"}
    components = schema["components"]["schemas"]
    assert set(components["JobSpec"]["properties"]) == set(JobSpec.model_fields)
    assert components["JobSpec"]["additionalProperties"] is False
    assert components["Budget"]["properties"]["trials"]["type"] == "integer"
    text = str(components["JobSpec"])
    for referenced in ("TaskSpec", "Budget", "Resources", "Constraints"):
        assert f"#/components/schemas/{referenced}" in text and referenced in components


def test_failure_injection_is_not_accepted_over_rest(client, alice, upload):
    """``testing`` (test-only failure injection) is no spec field: a client gets 422."""
    dataset = upload(alice)
    spec = {**tiny_spec({"id": dataset["id"]}), "testing": {"fail_topologies": ["mmoe"]}}
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 422 and paths_of(response) == ["testing"]


def test_a_submitted_spec_is_validated_and_compiled_once(client, alice, upload, monkeypatch):
    import search_spaces
    from automtl.jobspec import JobSpec

    dataset = upload(alice)
    compiled: list[object] = []
    validated: list[object] = []
    real_load, real_validate = search_spaces.load, JobSpec.model_validate

    def counting_load(*args: Any, **kwargs: Any) -> Any:
        compiled.append(args)
        return real_load(*args, **kwargs)

    def counting_validate(*args: Any, **kwargs: Any) -> JobSpec:
        validated.append(args)
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(search_spaces, "load", counting_load)
    monkeypatch.setattr(JobSpec, "model_validate", counting_validate)
    submit(client, alice, tiny_spec({"id": dataset["id"]}))
    assert (len(validated), len(compiled)) == (1, 1)
