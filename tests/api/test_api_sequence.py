"""``POST /jobs`` with a conversion ``sequence``: a bad one is 422 at the field, a good one is
stored, and /openapi.json documents the field."""

from __future__ import annotations

import pytest
from api_support import paths_of, tiny_spec


def test_a_bad_sequence_is_422_at_the_field(client, alice, upload):
    dataset = upload(alice)
    response = client.post("/api/v1/jobs", headers=alice,
                           json=tiny_spec({"id": dataset["id"]}, sequence=["y1", "nope"]))
    assert response.status_code == 422
    assert paths_of(response) == ["sequence"]
    assert "unknown task 'nope'" in response.json()["detail"][0]["msg"]
    assert client.get("/api/v1/jobs", headers=alice).json()["items"] == []


@pytest.mark.parametrize("topology, field", [("aitm", "sequence"), ("star", "domains")])
def test_a_space_naming_a_topology_without_its_job_field_is_422(client, alice, upload,
                                                                topology, field):
    """One rule and one error form for every topology that needs a job field."""
    dataset = upload(alice)
    space = {"topology": {"choose": {topology: {}}}}
    response = client.post("/api/v1/jobs", headers=alice,
                           json=tiny_spec({"id": dataset["id"]}, search_space=space))
    assert response.status_code == 422
    assert paths_of(response) == [f"search_space.topology.choose.{topology}"]
    assert response.json()["detail"][0]["msg"] == \
        f"{topology} needs '{field}' in the job spec; set it or leave {topology} out"


def test_a_preset_without_the_job_field_drops_the_topology(client, alice, upload):
    dataset = upload(alice)
    response = client.post("/api/v1/jobs", headers=alice,
                           json=tiny_spec({"id": dataset["id"]},
                                          search_space={"preset": "multi_domain"}))
    assert response.status_code == 202, response.text


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
