"""Issue 19 over REST: the detected schema says why each column gets its kind, and a job whose
data no trial could learn or be measured on is refused with 422 before it is queued."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from api_support import paths_of, tiny_spec


def _rare_csv(rows: int = 600) -> bytes:
    """Issue 19 item 3: a 600-row table whose 6 purchases are all in the train rows."""
    rng = np.random.default_rng(0)
    purchase = np.zeros(rows)
    purchase[:6] = 1.0
    return pd.DataFrame({
        "x": rng.normal(size=rows), "city_id": rng.integers(0, 30, rows),
        "click": rng.integers(0, 2, rows), "purchase": purchase,
        "split": np.where(np.arange(rows) < 480, "train",
                          np.where(np.arange(rows) < 540, "valid", "test")),
    }).to_csv(index=False).encode()


def test_the_detected_schema_gives_each_inference_decision_and_its_reason(client, alice, upload):
    body = upload(alice, _rare_csv())
    columns = {c["name"]: c for c in body["columns"]}
    assert columns["city_id"]["kind"] == "categorical"
    assert columns["city_id"]["reason"] == "integer values with an id-like name"
    assert columns["x"]["kind"] == "numeric" and columns["x"]["reason"] == "float values"
    assert columns["city_id"]["distinct"] == 30 and columns["city_id"]["numeric"] is True


def test_a_task_with_one_class_in_the_valid_split_is_422_naming_task_split_counts(
        client, alice, upload):
    dataset = upload(alice, _rare_csv())
    spec = tiny_spec({"id": dataset["id"], "split": {"column": "split"}},
                     tasks=[{"name": "click"}, {"name": "purchase"}])
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 422, response.text
    assert paths_of(response) == ["tasks[1]"]
    message = response.json()["detail"][0]["msg"]
    assert "task 'purchase'" in message and "only class 0 in the valid split" in message
    assert "train 480 labelled (6 positive, 474 negative)" in message
    assert client.get("/api/v1/jobs", headers=alice).json()["items"] == []  # nothing stored


def test_the_same_table_split_at_random_is_stratified_and_accepted(client, alice, upload):
    dataset = upload(alice, _rare_csv())
    spec = tiny_spec({"id": dataset["id"]}, tasks=[{"name": "click"}, {"name": "purchase"}])
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 202, response.text
    # accepted, but 6 purchases leave about one in each measured split: the answer says so
    # (new-user pass item 5: a front of AUCs 0.36-0.49 from 9 valid positives, unexplained)
    warnings = response.json()["warnings"]
    assert len(warnings) == 2, warnings
    assert all(w.startswith("task 'purchase' has ") and "fewer than 20" in w for w in warnings)
    assert [re.search(r"in the (\w+) split", w).group(1) for w in warnings] == ["valid", "test"]


def test_a_leftover_0_1_column_is_a_leakage_warning_kept_with_the_job(client, alice, upload):
    """A job on click alone took purchase (another 0/1 target) as a feature without a word:
    POST /jobs accepts it (202) with a warning naming the column, and GET /jobs/{id} gives
    the submit's warnings back (it dropped them)."""
    dataset = upload(alice, _rare_csv(2000))
    spec = tiny_spec({"id": dataset["id"], "split": {"column": "split"}},
                     tasks=[{"name": "click"}])
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 202, response.text
    warnings = response.json()["warnings"]
    leaks = [w for w in warnings if "leakage" in w]
    assert len(leaks) == 1 and "'purchase'" in leaks[0] and "'click'" not in leaks[0], warnings
    detail = client.get(f"/api/v1/jobs/{response.json()['id']}", headers=alice)
    assert detail.status_code == 200 and detail.json()["warnings"] == warnings


def test_rare_class_warnings_name_the_rarer_class_of_each_measured_split():
    from automtl.data.checks import MIN_CLASS_COUNT, TaskCounts, rare_class_warnings

    counts = [TaskCounts("ctr", "train", 1000, 3),  # train is not measured: no warning
              TaskCounts("ctr", "valid", 200, 100),
              TaskCounts("ctr", "test", 200, MIN_CLASS_COUNT),  # exactly the bound: enough
              TaskCounts("cvr", "valid", 200, 195),  # 5 negatives
              TaskCounts("cvr", "test", 200, MIN_CLASS_COUNT - 1),
              TaskCounts("watch", "valid", 200)]  # regression: no classes
    warnings = rare_class_warnings(counts)
    assert len(warnings) == 2
    assert warnings[0].startswith("task 'cvr' has 5 negative label(s) in the valid split "
                                  "(of 200 labelled rows)")
    assert warnings[1].startswith(f"task 'cvr' has {MIN_CLASS_COUNT - 1} positive label(s) "
                                  "in the test split")


def test_a_job_without_a_finished_trial_has_no_hypervolume_yet(client, alice, settings):
    """null while queued and while running before a trial is on the front, not 0.0."""
    from automtl_storage import Database, JobRepository

    job = client.post("/api/v1/jobs", headers=alice,
                      json=tiny_spec({"builtin": "synthetic", "rows": 500})).json()
    assert job["warnings"] == [] and job["progress"]["hypervolume"] is None
    url = f"/api/v1/jobs/{job['id']}"
    with Database(settings.resolved_database_url) as database, database.session() as session:
        jobs = JobRepository(session)
        assert jobs.claim_next("w1") is not None
        # what the worker reports before any trial finished: an empty front's volume 0.0
        jobs.update_progress(job["id"], front_size=0, hypervolume=0.0)
    progress = client.get(url, headers=alice).json()["progress"]
    assert progress["front_size"] == 0 and progress["hypervolume"] is None
    with Database(settings.resolved_database_url) as database, database.session() as session:
        JobRepository(session).update_progress(job["id"], front_size=2, hypervolume=0.031)
    assert client.get(url, headers=alice).json()["progress"]["hypervolume"] == 0.031


def test_a_builtin_synthetic_dataset_is_checked_at_submit_naming_task_split_counts(
        client, alice):
    # one valid row: a binary task cannot have both classes there
    spec = tiny_spec({"builtin": "synthetic", "rows": 100, "features": 4,
                      "split": {"valid": 0.01, "test": 0.1}})
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 422, response.text
    assert paths_of(response) == ["tasks[0]"]
    message = response.json()["detail"][0]["msg"]
    assert "task 'y1'" in message and "in the valid split" in message
    assert "valid 1 labelled" in message and "train 89 labelled" in message
    assert client.get("/api/v1/jobs", headers=alice).json()["items"] == []  # nothing stored
    fine = client.post("/api/v1/jobs", headers=alice,
                       json=tiny_spec({"builtin": "synthetic", "rows": 200, "features": 4}))
    assert fine.status_code == 202, fine.text


def test_census_income_is_checked_at_submit_and_missing_files_name_the_builtin(tmp_path,
                                                                               settings):
    from api_support import create_token, make_settings, write_census_dir
    from fastapi.testclient import TestClient

    from automtl_api.main import create_app

    census_dir = tmp_path / "census"
    census_dir.mkdir()
    settings = make_settings(tmp_path, census_dir=census_dir)
    census = {"builtin": "census-income"}
    with TestClient(create_app(settings)) as configured:
        headers = create_token(settings, "carol")
        empty = configured.post("/api/v1/jobs", headers=headers, json=tiny_spec(
            census, tasks=[{"name": "income_over_50k"}]))
        assert empty.status_code == 422 and paths_of(empty) == ["dataset.builtin"]
        assert "not available on this server" in empty.json()["detail"][0]["msg"]
        write_census_dir(census_dir, rows=40)
        tiny = configured.post("/api/v1/jobs", headers=headers, json=tiny_spec(
            {**census, "split": {"valid": 0.01, "test": 0.1}},
            tasks=[{"name": "income_over_50k"}]))
        assert tiny.status_code == 422 and paths_of(tiny) == ["tasks[0]"]
        assert "task 'income_over_50k'" in tiny.json()["detail"][0]["msg"]
        ok = configured.post("/api/v1/jobs", headers=headers, json=tiny_spec(
            census, tasks=[{"name": "income_over_50k"}]))
        assert ok.status_code == 202, ok.text


@pytest.mark.parametrize(("values", "hint", "found"), [
    ([0, 1, 2], "use type: multiclass for 3 integer classes", "found 2 ("),
    ([0.0, 0.5, 1.7], "use type: regression", "found 0.5, 1.7 ("),
    ([-1, 0, 1], "use type: regression", "found -1 ("),
    ([1, 2], "recode its two values to 0/1", "found 2 ("),
])
def test_a_binary_task_on_other_labels_is_told_the_type_they_fit(client, alice, upload,
                                                                 values, hint, found):
    """0/1/2 labels were told 'use type: regression?': small non-negative integers are
    classes; the REST check and the library's (automtl search) give the one hint, in one
    message naming the task, the column and the offending values (integers as integers: the
    CLI said "found [2.0]", REST "'buy' (int64) holds other values")."""
    from automtl.config import TaskSpec
    from automtl.data import DataError
    from automtl.data.encode import label_values

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=300), "y1": rng.integers(0, 2, 300),
                          "label": rng.choice(values, 300)})
    dataset = upload(alice, frame.to_csv(index=False).encode())
    refused = client.post("/api/v1/jobs", headers=alice, json=tiny_spec(
        {"id": dataset["id"]}, tasks=[{"name": "y1"}, {"name": "t", "label": "label"}]))
    assert refused.status_code == 422 and paths_of(refused) == ["tasks[1].type"]
    message = refused.json()["detail"][0]["msg"]
    assert message.startswith("binary task 't': label column 'label' must hold 0/1 (or bool) "
                              f"values, {found}{hint}")
    with pytest.raises(DataError) as local:
        label_values(frame["label"], TaskSpec(name="t", label="label"))
    assert str(local.value) == message


def test_a_multiclass_task_over_rest_binary_labels_are_told_to_use_binary(client, alice,
                                                                           upload):
    rng = np.random.default_rng(1)
    rows = 300
    csv = pd.DataFrame({"x": rng.normal(size=rows), "click": rng.integers(0, 2, rows),
                        "segment": rng.choice(["gold", "silver", "bronze"], rows)}
                       ).to_csv(index=False).encode()
    dataset = upload(alice, csv)
    binary = client.post("/api/v1/jobs", headers=alice, json=tiny_spec(
        {"id": dataset["id"]}, tasks=[{"name": "click", "type": "multiclass"}]))
    assert binary.status_code == 422 and paths_of(binary) == ["tasks[0].type"]
    assert "use type: binary" in binary.json()["detail"][0]["msg"]
    fine = client.post("/api/v1/jobs", headers=alice, json=tiny_spec(
        {"id": dataset["id"]}, tasks=[{"name": "click"},
                                      {"name": "segment", "type": "multiclass"}]))
    assert fine.status_code == 202, fine.text
    detail = client.get(f"/api/v1/jobs/{fine.json()['id']}", headers=alice).json()
    assert detail["spec"]["tasks"][1]["metric"] == "auc_macro"
def _domain_csv(rows: int = 300) -> bytes:
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "x": rng.normal(size=rows), "scene": rng.choice(["home", "search", "feed"], rows),
        "y1": rng.integers(0, 2, rows), "y2": rng.integers(0, 2, rows),
    }).to_csv(index=False).encode()


def test_a_domain_value_the_column_lacks_is_422_naming_domains_values(client, alice, upload):
    dataset = upload(alice, _domain_csv())
    spec = tiny_spec({"id": dataset["id"]},
                     domains={"column": "scene", "values": ["home", "search"]})
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 422, response.text
    assert paths_of(response) == ["domains.values"]
    assert "'feed'" in response.json()["detail"][0]["msg"]
    spec["domains"] = {"column": "region", "values": ["home"]}
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 422 and paths_of(response) == ["domains.column"]
    spec["domains"] = {"column": "scene", "values": ["home", "search", "feed"]}
    assert client.post("/api/v1/jobs", headers=alice, json=spec).status_code == 202


def _multiclass_csv(segment: list[Any], rows: int = 300) -> bytes:
    rng = np.random.default_rng(2)
    return pd.DataFrame({"x": rng.normal(size=rows), "click": rng.integers(0, 2, rows),
                         "segment": (segment * rows)[:rows]}).to_csv(index=False).encode()


@pytest.mark.parametrize("segment, path, fragment", [
    ([0.5, 1.5, 2.5], "tasks[1].type", "holds fractional numbers"),
    (["gold", "silver"], "tasks[1].type", "needs at least 3"),
])
def test_a_bad_multiclass_label_column_is_422_at_the_tasks_field(client, alice, upload,
                                                                 segment, path, fragment):
    """Like every other task error, the data check's names the task's field, not only the
    column."""
    dataset = upload(alice, _multiclass_csv(segment))
    response = client.post("/api/v1/jobs", headers=alice, json=tiny_spec(
        {"id": dataset["id"]}, tasks=[{"name": "click"},
                                      {"name": "segment", "type": "multiclass"}]))
    assert response.status_code == 422, response.text
    assert paths_of(response) == [path]
    message = response.json()["detail"][0]["msg"]
    assert "'segment'" in message and fragment in message


def test_a_negative_label_under_log1p_is_422_at_the_tasks_transform(client, alice, upload):
    dataset = upload(alice, _multiclass_csv([-1.0, 2.0, 3.0]))
    response = client.post("/api/v1/jobs", headers=alice, json=tiny_spec(
        {"id": dataset["id"]}, tasks=[{"name": "click"},
                                      {"name": "segment", "type": "regression",
                                       "transform": "log1p"}]))
    assert response.status_code == 422, response.text
    assert paths_of(response) == ["tasks[1].transform"]
    assert "negative value" in response.json()["detail"][0]["msg"]

def test_an_uploads_data_check_runs_once_per_upload_and_data_fields(client, alice, upload,
                                                                     monkeypatch):
    """The check loads the whole table; its verdict (pass or the 422) is kept for the upload's
    bytes and the spec's data fields, and a change of those checks again."""
    import automtl.search.datasets as datasets

    loads = []
    real = datasets.load_dataset
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda *a, **k: loads.append(1) or real(*a, **k))
    dataset = upload(alice, _rare_csv())
    bad = tiny_spec({"id": dataset["id"], "split": {"column": "split"}},
                    tasks=[{"name": "click"}, {"name": "purchase"}])
    first = client.post("/api/v1/jobs", headers=alice, json=bad)
    again = client.post("/api/v1/jobs", headers=alice, json={**bad, "name": "other"})
    assert first.status_code == again.status_code == 422
    assert again.json()["detail"] == first.json()["detail"] and len(loads) == 1
    good = {**bad, "tasks": [{"name": "click"}]}
    assert client.post("/api/v1/jobs", headers=alice, json=good).status_code == 202
    assert client.post("/api/v1/jobs", headers=alice,
                       json={**good, "budget": {"trials": 3, "epochs": 2}}).status_code == 202
    assert len(loads) == 2  # new tasks: checked again; a new budget: not a data field
    assert client.post("/api/v1/jobs", headers=alice,
                       json={**good, "seed": 7}).status_code == 202
    assert len(loads) == 3


def test_uploads_stored_before_integer_codes_was_recorded_still_get_the_hint():
    from automtl_api.submission import _integer_codes

    assert _integer_codes({"values": ["0", "1", "2"], "numeric": True})
    assert not _integer_codes({"values": ["0", "0.5"], "numeric": True})
    assert not _integer_codes({"values": ["-1", "0", "1"], "numeric": True})
    assert _integer_codes({"values": None, "reason": "integer codes: 40 distinct values"})
    assert not _integer_codes({"values": None, "reason": "float values"})
    assert not _integer_codes({"integer_codes": False, "values": ["0", "1", "2"]})


def test_a_tasks_unknown_key_is_not_followed_by_an_error_derived_from_its_lost_type(
        client, alice, upload):
    """New-user pass item 11: ``tasks[1].typ`` left the task's type at its default (binary),
    and the float label then also got "a binary task needs a 0/1 label column"."""
    dataset = upload(alice, _rare_csv())
    spec = tiny_spec({"id": dataset["id"]},
                     tasks=[{"name": "click"}, {"name": "x", "typ": "regression"}],
                     budget={"trials": 4, "epoch": 2})
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 422, response.text
    detail = {item["path"]: item["msg"] for item in response.json()["detail"]}
    assert detail == {"tasks[1].typ": "unknown field; did you mean 'type'?",
                      "budget.epoch": "unknown field; did you mean 'epochs'?"}
    # the same label under a valid binary type still gets the label check
    spec["tasks"][1] = {"name": "x", "type": "binary"}
    spec["budget"] = {"trials": 4, "epochs": 2}
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert paths_of(response) == ["tasks[1].type"], response.text


@pytest.mark.parametrize("problem", ["label", "missing"])
def test_the_cli_and_rest_word_a_data_problem_alike(client, alice, upload, tmp_path, problem):
    """New-user pass item 10: a wrong label column listed the columns over REST only, and a
    NaN feature read "50 missing (NaN) value(s), first at row np.int64(0)" in the CLI (the
    train split's count, unsaid) and 60 over REST. One message function words both, counted
    over the whole table, with plain values."""
    from automtl.data import DataError
    from automtl.jobspec import load_job_spec
    from automtl.search.datasets import load_dataset

    rng = np.random.default_rng(3)
    x = rng.normal(size=300)
    x[::5] = np.nan  # 60 missing over the whole table
    table = pd.DataFrame({"x": x, "z": rng.normal(size=300), "click": rng.integers(0, 2, 300),
                          "purchase": rng.integers(0, 2, 300)})
    tasks = [{"name": "click"}, {"name": "purchase", "label": "purchased"}] \
        if problem == "label" else [{"name": "click"}, {"name": "purchase"}]
    dataset_extra = {"missing": "error"} if problem == "missing" else {}
    csv_path = tmp_path / "table.csv"
    table.to_csv(csv_path, index=False)
    body = upload(alice, csv_path.read_bytes())
    response = client.post("/api/v1/jobs", headers=alice, json=tiny_spec(
        {"id": body["id"], **dataset_extra}, tasks=tasks))
    assert response.status_code == 422, response.text
    rest = response.json()["detail"][0]["msg"]
    spec = load_job_spec(tiny_spec({"path": str(csv_path), **dataset_extra}, tasks=tasks))
    with pytest.raises(DataError) as cli:
        load_dataset(spec.dataset, spec.tasks, spec.seed)
    assert str(cli.value) == rest
    if problem == "label":
        assert rest == ("task 'purchase': label column 'purchased' is not in the data; its "
                        "columns: ['x', 'z', 'click', 'purchase']")
    else:
        assert rest.startswith("numeric feature 'x' has 60 missing (NaN) value(s) in the whole "
                               "table")
        assert "np." not in rest
