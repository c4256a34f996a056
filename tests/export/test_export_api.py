"""``GET /api/v1/jobs/{id}/export``: a zip of the bundle for the job's owner, recorded in the
exports table; 404 across owners and for missing trials, 409 for unfinished ones."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from export_helpers import Service
from fastapi.testclient import TestClient

from automtl.export.bundle import BUNDLE_FILES


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    from automtl_api.main import create_app

    with TestClient(create_app(service.settings)) as test_client:
        yield test_client


def _get(client: TestClient, service: Service, query: str = "", token: str | None = None,
         job: int | None = None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token or service.alice_token}"}
    return client.get(f"/api/v1/jobs/{job or service.job_id}/export{query}", headers=headers)


def _exports(service: Service) -> list[tuple[int, int, str]]:
    from automtl_storage import Database, ExportRepository, Trial

    with Database(service.url) as database, database.session() as session:
        rows = ExportRepository(session).list_for_job(service.job_id)
        return [(session.get(Trial, e.trial_id).number, e.job_id, e.location) for e in rows]


def _message(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(item["msg"] for item in response.json()["detail"])


def test_export_returns_a_zip_of_the_bundle(client: TestClient, service: Service,
                                            tmp_path: Path) -> None:
    response = _get(client, service, "?trial=1")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["x-automtl-trial"] == "1"
    assert 'filename="automtl-job-' in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    folder = f"automtl-job-{service.job_id}-trial-1"
    assert sorted(archive.namelist()) == sorted(f"{folder}/{name}" for name in BUNDLE_FILES)
    archive.extractall(tmp_path)
    bundle = tmp_path / folder
    config = yaml.safe_load((bundle / "config.yaml").read_text())
    assert config["model"]["topology"] == "shared_bottom"
    source = dict(config["source"])
    data = source.pop("data")  # the search's split rule, for train.py (issue 19 item 8)
    assert source == {"job": service.job_id, "name": "export-job", "study": source["study"],
                      "trial": 1}
    assert set(data) >= {"seed", "split"}
    model, _ = service.trained[1]
    state = torch.load(bundle / "weights.pt", weights_only=True)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert "Metrics of trial 1" in (bundle / "README.md").read_text()
    (number, job_id, location), = _exports(service)
    assert (number, job_id) == (1, service.job_id)
    # stored relative to the artifact root, so moving the root keeps it valid
    assert not Path(location).is_absolute() and location.startswith("exports/")
    stored = service.settings.resolved_artifact_dir / location
    assert stored.is_file() and stored.suffix == ".zip"


def test_export_without_a_trial_chooses_from_the_front(client: TestClient,
                                                       service: Service) -> None:
    response = _get(client, service, "?prefer=watch=3")
    assert response.status_code == 200, response.text
    assert response.headers["x-automtl-trial"] == "1"  # best on watch
    # every objective's weight as applied, the unnamed click's default 1 too
    assert response.headers["x-automtl-weights"] == "click=1,watch=3"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    name = next(n for n in archive.namelist() if n.endswith("choice.json"))
    choice = json.loads(archive.read(name))
    assert choice["chosen_trial"] == 1 and choice["weights"] == {"click": 1.0, "watch": 3.0}
    assert [t["number"] for t in choice["front"]] == [0, 1]  # trial 2 is dominated
    assert _get(client, service, "?prefer=click=3").headers["x-automtl-trial"] == "0"
    assert [row[0] for row in _exports(service)] == [0, 1]  # newest first


def test_other_owners_and_missing_jobs_get_404(client: TestClient, service: Service) -> None:
    response = _get(client, service, "?trial=0", token=service.bob_token)
    assert response.status_code == 404 and "job" in _message(response)
    assert _get(client, service, "?trial=0", job=service.job_id + 100).status_code == 404
    unauthenticated = client.get(f"/api/v1/jobs/{service.job_id}/export?trial=0")
    assert unauthenticated.status_code == 401
    assert _exports(service) == []


def test_missing_unfinished_and_vanished_trials(client: TestClient, service: Service) -> None:
    missing = _get(client, service, "?trial=9")
    assert missing.status_code == 404
    assert f"job {service.job_id} has no trial 9; its trials are 0-4" in _message(missing)
    running = _get(client, service, "?trial=3")
    assert running.status_code == 409
    assert "trial 3" in _message(running) and "is running, not finished" in _message(running)
    assert _get(client, service, "?trial=4").status_code == 409  # failed
    gone = _get(client, service, "?trial=2")
    assert gone.status_code == 410 and "saved weights of trial 2" in _message(gone)
    assert _exports(service) == []


def test_bad_query_parameters_are_422(client: TestClient, service: Service) -> None:
    unknown = _get(client, service, "?prefer=latency_ms=1")
    assert unknown.status_code == 422 and "unknown objective" in _message(unknown)
    assert unknown.json()["detail"][0]["path"] == "prefer"
    for query in ("?prefer=click", "?trial=0&prefer=click=1", "?prefer=click=-1",
                  "?prefer=click=x"):
        refused = _get(client, service, query)
        assert refused.status_code == 422
        # REST names its own query parameter (the path), never the CLI's --prefer
        assert refused.json()["detail"][0]["path"] == "prefer"
        assert "--" not in _message(refused), query
    assert "--" not in _message(unknown)
    assert _get(client, service, "?trial=-1").status_code == 422
