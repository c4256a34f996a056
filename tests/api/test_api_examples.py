"""Every route documents an example answer (issue 21, REST conventions: "every route has a
summary, tag descriptions and an example"), and every example is a valid instance of the model
the route answers with, so the docs cannot drift from the API."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from automtl_api import schemas
from automtl_api.examples import EXAMPLES


@pytest.fixture
def openapi(client) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def _operations(openapi: dict[str, Any]):
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_example_is_a_valid_instance_of_its_model(name):
    TypeAdapter(getattr(schemas, name)).validate_python(EXAMPLES[name])


def test_every_route_has_a_summary_a_tag_and_an_example_answer(openapi):
    missing = []
    for route, operation in _operations(openapi):
        assert operation.get("summary"), route
        assert operation.get("tags"), route
        successes = [r for s, r in operation["responses"].items() if s.startswith("2")]
        media = [m for r in successes for m in r.get("content", {}).values()]
        if media and not all("example" in m for m in media):
            missing.append(route)
    # only files served as they are have none: the bundle zip and the static scripts
    assert sorted(missing) == ["GET /api/v1/assets/plotly.min.js",
                               "GET /api/v1/jobs/{job_id}/export"]


def test_json_examples_match_the_schema_the_route_declares(openapi):
    checked = 0
    for route, operation in _operations(openapi):
        for status, response in operation["responses"].items():
            media = response.get("content", {}).get("application/json")
            if not media or "$ref" not in media.get("schema", {}):
                continue
            name = media["schema"]["$ref"].rsplit("/", 1)[-1]
            assert media.get("example") == EXAMPLES[name], f"{route} {status}"
            checked += 1
    assert checked >= 20  # the 2xx models and the 4xx ErrorResponse of every route
