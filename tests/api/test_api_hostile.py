"""Hostile and out-of-range input (issue 20): every case answers a 4xx naming the field, never
a 500, and a spec the cluster cannot run or that would never end is refused at submit."""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
import pytest
from api_support import create_token, make_settings, paths_of, tiny_csv, tiny_spec
from fastapi.testclient import TestClient

from automtl_api.main import create_app
from automtl_storage import upgrade

JOB_ROUTES = [("GET", ""), ("POST", "/cancel"), ("GET", "/trials"), ("GET", "/pareto"),
              ("GET", "/report"), ("GET", "/export")]
HUGE_IDS = [2**31, 2**63, 10**30, -1, 0]


@pytest.mark.parametrize("job_id", HUGE_IDS)
def test_ids_outside_the_database_range_are_422_on_every_id_route(client, alice, job_id):
    for method, suffix in JOB_ROUTES:
        response = client.request(method, f"/api/v1/jobs/{job_id}{suffix}", headers=alice)
        assert response.status_code == 422, (suffix, response.text)
        assert paths_of(response) == ["job_id"]
    response = client.get(f"/api/v1/datasets/{job_id}", headers=alice)
    assert response.status_code == 422 and paths_of(response) == ["dataset_id"]


@pytest.mark.parametrize("route", ["/api/v1/jobs", "/api/v1/datasets"])
@pytest.mark.parametrize("offset", [2**31, 2**63, 10**30])
def test_offsets_outside_the_database_range_are_422(client, alice, route, offset):
    response = client.get(f"{route}?offset={offset}", headers=alice)
    assert response.status_code == 422 and paths_of(response) == ["offset"]


def test_export_trial_outside_the_range_is_422(client, alice):
    job = client.post("/api/v1/jobs", headers=alice, json=tiny_spec({"builtin": "synthetic"}))
    assert job.status_code == 202, job.text
    response = client.get(f"/api/v1/jobs/{job.json()['id']}/export?trial={2**63}",
                          headers=alice)
    assert response.status_code == 422 and "trial" in paths_of(response)


@pytest.mark.parametrize("dataset_id", [2**31, 2**63, 10**30, "²", "١٢", " 12x", "-3"])
def test_a_dataset_id_that_cannot_exist_is_422(client, alice, dataset_id):
    response = client.post("/api/v1/jobs", headers=alice, json=tiny_spec({"id": dataset_id}))
    assert response.status_code == 422, response.text
    assert "dataset.id" in paths_of(response)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize("depth", [100, 500, 900])
def test_deeply_nested_json_is_422_not_a_recursion_error(client, alice, depth):
    spec = tiny_spec({"builtin": "synthetic"}, search_space=_nested(depth))
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 422, response.text
    assert "nested more than" in response.json()["detail"][0]["msg"]
    assert "AUTOMTL_MAX_JSON_DEPTH" in response.json()["detail"][0]["msg"]
    assert paths_of(response)[0].startswith("search_space")
    validate = client.post("/api/v1/search-spaces/validate", headers=alice, json=_nested(depth))
    assert validate.status_code == 422


def test_nul_characters_are_422_in_a_spec_an_upload_name_and_a_csv_header(client, alice):
    spec = tiny_spec({"builtin": "synthetic"}, tasks=[{"name": "y1", "label": "y\x001"}])
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 422 and paths_of(response) == ["tasks[0].label"]
    upload = client.post("/api/v1/datasets", headers=alice, data={"name": "a\x00b"},
                         files={"file": ("t.csv", tiny_csv(50), "text/csv")})
    assert upload.status_code == 422 and paths_of(upload) == ["name"]
    header = client.post("/api/v1/datasets", headers=alice,
                         files={"file": ("t.csv", b"x\x00y,z\n1,0\n2,1\n", "text/csv")})
    assert header.status_code == 422 and paths_of(header) == ["file"]
    # pandas before 3.0 silently cuts a field at a NUL, so a cell's NUL is refused as well
    cell = client.post("/api/v1/datasets", headers=alice,
                       files={"file": ("t.csv", b"x,z\n1,a\x00b\n2,c\n", "text/csv")})
    assert cell.status_code == 422 and paths_of(cell) == ["file"]
    assert "NUL" in cell.text


def test_parquet_with_integer_column_names_is_422(client, alice):
    buffer = io.BytesIO()
    frame = pd.DataFrame({0: [1.0, 2.0], 1: [0, 1]})
    frame.columns = pd.Index([0, 1])
    frame.to_parquet(buffer)  # pyarrow stores the names as text; the pandas metadata as ints
    response = client.post("/api/v1/datasets", headers=alice,
                           files={"file": ("t.parquet", buffer.getvalue(), "application/x")})
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:
        assert paths_of(response) == ["file"]


@pytest.mark.parametrize("field,raw", [
    ("resources.cpus_per_trial", '"resources": {"cpus_per_trial": Infinity}'),
    ("budget.time_limit_s", '"budget": {"trials": 2, "time_limit_s": Infinity}'),
    ("constraints.latency_ms_max", '"constraints": {"latency_ms_max": Infinity}'),
    ("budget.time_limit_s", '"budget": {"trials": 2, "time_limit_s": NaN}'),
])
def test_non_finite_numbers_are_422_not_stored_as_null(client, alice, field, raw):
    body = ('{"name": "inf", "dataset": {"builtin": "synthetic"}, '
            '"tasks": [{"name": "y1"}, {"name": "y2"}], ' + raw + "}")
    response = client.post("/api/v1/jobs", headers={**alice, "content-type": "application/json"},
                           content=body)
    assert response.status_code == 422, response.text
    assert paths_of(response) == [field]


def test_non_finite_synthetic_scale_is_422(client, alice):
    body = ('{"name": "inf", "dataset": {"builtin": "synthetic", "scale": -Infinity}, '
            '"tasks": [{"name": "y1"}, {"name": "y2"}]}')
    response = client.post("/api/v1/jobs", headers={**alice, "content-type": "application/json"},
                           content=body)
    assert response.status_code == 422 and paths_of(response) == ["dataset.scale"]


@pytest.mark.parametrize("override,field", [
    ({"budget": {"trials": 10**30}}, "budget.trials"),
    ({"budget": {"trials": 10**6}}, "budget.trials"),
    ({"budget": {"trials": 2, "epochs": 10**6}}, "budget.epochs"),
    ({"budget": {"trials": 2, "concurrency": 10**6}}, "budget.concurrency"),
    ({"budget": {"trials": 2, "time_limit_s": 1e12}}, "budget.time_limit_s"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**40}, "seed"),
])
def test_specs_that_never_finish_or_cannot_run_are_refused(client, alice, override, field):
    spec = {**tiny_spec({"builtin": "synthetic"}), **override}
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 422, response.text
    assert field in paths_of(response)


def test_synthetic_rows_are_capped(client, alice):
    spec = tiny_spec({"builtin": "synthetic", "rows": 10**12})
    response = client.post("/api/v1/jobs", headers=alice, json=spec)
    assert response.status_code == 422 and paths_of(response) == ["dataset.rows"]
    assert "AUTOMTL_MAX_SYNTHETIC_ROWS" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("resources,field", [
    ({"cpus_per_trial": 64}, "resources.cpus_per_trial"),
    ({"gpus_per_trial": 1}, "resources.gpus_per_trial"),
])
def test_resources_over_the_configured_largest_node_are_refused(tmp_path, resources, field):
    settings = make_settings(tmp_path, max_cpus_per_trial=8, max_gpus_per_trial=0)
    upgrade(settings.resolved_database_url)
    headers = create_token(settings, "ivy")
    with TestClient(create_app(settings)) as client:
        spec = tiny_spec({"builtin": "synthetic"}, resources=resources)
        response = client.post("/api/v1/jobs", headers=headers, json=spec)
    assert response.status_code == 422 and paths_of(response) == [field]


def test_caps_come_from_the_settings(tmp_path):
    settings = make_settings(tmp_path, max_trials=3, max_gpus_per_trial=1.0)
    upgrade(settings.resolved_database_url)
    headers = create_token(settings, "carol")
    with TestClient(create_app(settings)) as client:
        over = client.post("/api/v1/jobs", headers=headers,
                           json=tiny_spec({"builtin": "synthetic"}, trials=4))
        assert over.status_code == 422 and paths_of(over) == ["budget.trials"]
        assert "limit of 3" in over.json()["detail"][0]["msg"]
        gpu = tiny_spec({"builtin": "synthetic"}, trials=3,
                        resources={"gpus_per_trial": 0.5})
        assert client.post("/api/v1/jobs", headers=headers, json=gpu).status_code == 202


def test_many_tasks_are_refused_before_validation(client, alice):
    tasks = [{"name": f"t{i}"} for i in range(5000)]
    response = client.post("/api/v1/jobs", headers=alice,
                           json=tiny_spec({"builtin": "synthetic"}, tasks=tasks))
    assert response.status_code == 422 and paths_of(response) == ["tasks"]
    long_list = tiny_spec({"builtin": "synthetic"}, objectives=["y1"] * 20_000)
    response = client.post("/api/v1/jobs", headers=alice, json=long_list)
    assert response.status_code == 422 and paths_of(response) == ["objectives"]


def test_a_body_over_the_limit_is_413_with_or_without_content_length(tmp_path):
    settings = make_settings(tmp_path, max_spec_bytes=4096, max_upload_bytes=10_000)
    upgrade(settings.resolved_database_url)
    headers = create_token(settings, "dave")
    big = json.dumps(tiny_spec({"builtin": "synthetic"}, name="x" * 5000)).encode()
    with TestClient(create_app(settings)) as client:
        sized = client.post("/api/v1/jobs", headers={**headers, "content-type":
                                                     "application/json"}, content=big)
        assert sized.status_code == 413, sized.text

        def chunks() -> Any:  # no Content-Length: Transfer-Encoding chunked
            for i in range(0, len(big), 512):
                yield big[i:i + 512]

        chunked = client.post("/api/v1/jobs", headers={**headers, "content-type":
                                                       "application/json"}, content=chunks())
        assert chunked.status_code == 413, chunked.text
        assert "AUTOMTL_MAX_SPEC_BYTES" in chunked.json()["detail"][0]["msg"]

        body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.csv\"\r\n"
                b"Content-Type: text/csv\r\n\r\n" + b"1,2\n" * 40_000 + b"\r\n--b--\r\n")

        def upload_chunks() -> Any:
            for i in range(0, len(body), 4096):
                yield body[i:i + 4096]

        upload = client.post("/api/v1/datasets", content=upload_chunks(),
                             headers={**headers,
                                      "content-type": "multipart/form-data; boundary=b"})
        assert upload.status_code == 413, upload.text
        assert not list((settings.upload_dir).glob("*")) if settings.upload_dir.exists() \
            else True


def test_a_parquet_upload_over_the_row_limit_is_413_before_it_is_read(tmp_path):
    settings = make_settings(tmp_path, max_upload_rows=1000)
    upgrade(settings.resolved_database_url)
    headers = create_token(settings, "erin")
    buffer = io.BytesIO()
    pd.DataFrame({"a": [0.0] * 5000, "b": [1] * 5000}).to_parquet(buffer)
    with TestClient(create_app(settings)) as client:
        response = client.post("/api/v1/datasets", headers=headers,
                               files={"file": ("z.parquet", buffer.getvalue(), "x")})
    assert response.status_code == 413, response.text
    assert "AUTOMTL_MAX_UPLOAD_ROWS" in response.json()["detail"][0]["msg"]


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _frame(rows: int = 200) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(tiny_csv(rows)))


def _submit_on(client, alice, upload, frame: pd.DataFrame, **dataset: Any) -> Any:
    stored = upload(alice, _csv(frame))
    return client.post("/api/v1/jobs", headers=alice,
                       json=tiny_spec({"id": stored["id"], **dataset}))


def test_non_finite_and_missing_numeric_features_are_422_at_submit(client, alice, upload):
    frame = _frame()
    frame.loc[3, "x1"] = float("inf")
    frame.loc[4, "x2"] = float("nan")
    strict = _submit_on(client, alice, upload, frame, missing="error",
                        features={"numeric": ["x0", "x1", "x2"]})
    assert strict.status_code == 422, strict.text
    assert paths_of(strict) == ["dataset.features.numeric[1]", "dataset.features.numeric[2]"]
    # the default missing: impute fills NaN in the worker; infinity is refused either way
    imputed = _submit_on(client, alice, upload, frame,
                         features={"numeric": ["x0", "x1", "x2"]})
    assert imputed.status_code == 422 and paths_of(imputed) == ["dataset.features.numeric[1]"]
    inferred = _submit_on(client, alice, upload, frame)
    assert inferred.status_code == 422 and set(paths_of(inferred)) == {"dataset.features"}
    frame.loc[3, "x1"] = 0.0
    fine = _submit_on(client, alice, upload, frame, features={"numeric": ["x0", "x1", "x2"]})
    assert fine.status_code == 202, fine.text


def test_a_label_listed_as_a_feature_and_empty_features_are_422(client, alice, upload):
    frame = _frame()
    response = _submit_on(client, alice, upload, frame,
                          features={"numeric": ["x0", "y1"]})
    assert response.status_code == 422 and paths_of(response) == ["dataset.features.numeric[1]"]
    empty = _submit_on(client, alice, upload, frame,
                       features={"numeric": [], "categorical": []})
    assert empty.status_code == 422 and paths_of(empty) == ["dataset.features"]


def test_a_split_column_without_train_valid_values_is_422(client, alice, upload):
    frame = _frame()
    frame["part"] = ["train"] * len(frame)
    response = _submit_on(client, alice, upload, frame, split={"column": "part"})
    assert response.status_code == 422, response.text
    assert paths_of(response) == ["dataset.split.valid"]
    frame["part"] = ["a", "b"] * (len(frame) // 2)
    other = _submit_on(client, alice, upload, frame, split={"column": "part"})
    assert "dataset.split.column" in paths_of(other)
    frame["part"] = (["train"] * 8 + ["valid", "test"]) * (len(frame) // 10)
    fine = _submit_on(client, alice, upload, frame, split={"column": "part"},
                      features={"numeric": ["x0", "x1"]})
    assert fine.status_code == 202, fine.text


def test_a_wrong_format_and_a_tiny_dataset_are_422(client, alice, upload):
    stored = upload(alice, _csv(_frame()))
    wrong = client.post("/api/v1/jobs", headers=alice,
                        json=tiny_spec({"id": stored["id"], "format": "parquet"}))
    assert wrong.status_code == 422 and paths_of(wrong) == ["dataset.format"]
    one_row = upload(alice, b"x0,y1,y2\n1.0,0,1\n")
    tiny = client.post("/api/v1/jobs", headers=alice, json=tiny_spec({"id": one_row["id"]}))
    assert tiny.status_code == 422 and paths_of(tiny) == ["dataset.id"]


def test_openapi_documents_json_errors_of_the_report_and_413(client):
    schema = client.get("/openapi.json").json()
    report = schema["paths"]["/api/v1/jobs/{job_id}/report"]["get"]["responses"]
    assert list(report["401"]["content"]) == ["application/json"]
    assert "text/html" in report["200"]["content"]
    for path in ("/api/v1/jobs", "/api/v1/datasets", "/api/v1/search-spaces/validate"):
        responses = schema["paths"][path]["post"]["responses"]
        assert "413" in responses and "400" in responses, path


@pytest.mark.parametrize("route", ["/api/v1/jobs", "/api/v1/search-spaces/validate"])
def test_a_truncated_json_body_is_422_with_a_line_and_column(client, alice, route):
    """FastAPI put the decoder's character offset in ``loc`` (``["body", 43]``), which reads
    as a list index: the location is the body, the position is in the message."""
    body = '{"name": "cut",\n "tasks": [{"name": "y1"}, {"name": '
    response = client.post(route, headers={**alice, "content-type": "application/json"},
                           content=body)
    assert response.status_code == 422, response.text
    [item] = response.json()["detail"]
    assert item["loc"] == ["body"] and item["path"] == "" and item["type"] == "json_invalid"
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        expected = f"line {exc.lineno} column {exc.colno} (char {exc.pos})"
    assert item["msg"].startswith(f"invalid JSON at {expected}: ")
    assert expected.startswith("line 2 ")
