"""``POST /jobs`` with a conversion ``sequence``: a bad one is 422 at the field, a good one is
stored, and /openapi.json documents the field."""

from __future__ import annotations

from api_support import paths_of, tiny_spec


def test_a_bad_sequence_is_422_at_the_field(client, alice, upload):
    dataset = upload(alice)
    response = client.post("/api/v1/jobs", headers=alice,
                           json=tiny_spec({"id": dataset["id"]}, sequence=["y1", "nope"]))
    assert response.status_code == 422
    assert paths_of(response) == ["sequence"]
    assert "unknown task 'nope'" in response.json()["detail"][0]["msg"]
    assert client.get("/api/v1/jobs", headers=alice).json()["items"] == []


def test_a_space_naming_aitm_without_a_sequence_is_422(client, alice, upload):
    dataset = upload(alice)
    space = {"topology": {"choose": {"aitm": {}}}}
    response = client.post("/api/v1/jobs", headers=alice,
                           json=tiny_spec({"id": dataset["id"]}, search_space=space))
    assert response.status_code == 422
    assert paths_of(response) == ["search_space.topology.choose.aitm"]
    assert "sequence" in response.json()["detail"][0]["msg"]


def test_a_sequence_is_stored_with_the_job_and_documented(client, alice, upload):
    dataset = upload(alice)
    space = {"topology": {"choose": {"aitm": {}}}}
    response = client.post("/api/v1/jobs", headers=alice,
                           json=tiny_spec({"id": dataset["id"]}, search_space=space,
                                          sequence=["y1", "y2"]))
    assert response.status_code == 202, response.text
    detail = client.get(f"/api/v1/jobs/{response.json()['id']}", headers=alice).json()
    assert detail["spec"]["sequence"] == ["y1", "y2"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["JobSpec"]
    assert "sequence" in schema["properties"]
