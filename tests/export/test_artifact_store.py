"""Trial artifacts in an object store (issue 22 item 5: "an object-store URL via fsspec as an
option, tested with fsspec's local or memory filesystem"): a trial saved under an artifact URL
is uploaded there, its row stores the path relative to the URL, and the API's export reads it
back through fsspec, with no local artifact folder anywhere."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path
from typing import Any

import fsspec
import pytest
import torch
from export_helpers import TASKS, dataset, make_frame, train_trial
from fastapi.testclient import TestClient
from pydantic import ValidationError

from automtl import artifact_store
from automtl.search.trainable import store_artifacts
from automtl_api.settings import Settings
from automtl_api.worker import stored_artifact
from automtl_storage import (
    Database,
    JobRepository,
    OwnerRepository,
    TokenRepository,
    TrialRepository,
    upgrade,
)


def _job_spec() -> dict[str, Any]:
    return {"name": "store-job", "dataset": {"path": "user.csv"},
            "tasks": [t.model_dump(exclude_none=True) for t in TASKS],
            "objectives": ["click", "watch"], "search_space": {"preset": "default"}}


@pytest.fixture
def store_url() -> Any:
    url = f"memory://automtl-{uuid.uuid4().hex[:8]}"
    yield url
    fs, root = fsspec.core.url_to_fs(url)
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_store_artifacts_uploads_a_trial_folder_and_leaves_no_scratch(tmp_path, store_url):
    data = dataset(make_frame(200, seed=3))
    model, candidate, _ = train_trial(data, tmp_path / "local", "mmoe")
    from automtl.config import ModelConfig

    config = ModelConfig.from_parts(candidate.architecture, data.schema, TASKS)
    where = store_artifacts(artifact_store.join(store_url, "study"), "trial-7", model,
                            candidate, config)
    assert where == f"{store_url}/study/trial-7"
    fs, root = fsspec.core.url_to_fs(where)
    assert sorted(Path(p).name for p in fs.ls(root, detail=False)) == \
        sorted(artifact_store.ARTIFACT_FILES)
    fetched = artifact_store.fetch(where, tmp_path / "cache")
    saved = torch.load(fetched / "model.pt")
    assert all(torch.equal(saved[k], v.detach().cpu()) for k, v in model.state_dict().items())
    # a local root still writes a plain folder, as before
    local = store_artifacts(str(tmp_path / "plain"), "trial-7", model, candidate, config)
    assert Path(local, "model.pt").is_file()


def test_a_url_root_is_stored_relative_and_anything_else_unchanged(store_url):
    assert stored_artifact(f"{store_url}/s/trial-1", store_url) == "s/trial-1"
    assert stored_artifact("s3://elsewhere/trial-1", store_url) == "s3://elsewhere/trial-1"
    assert stored_artifact(None, store_url) is None


@pytest.mark.parametrize("url,words", [("nope://bucket/x", ["nope"]),
                                       ("not-a-url", ["not a URL"])])
def test_an_unusable_artifact_url_is_a_settings_error_naming_it(tmp_path, url, words):
    with pytest.raises(ValidationError) as info:
        Settings(env="test", data_dir=tmp_path, artifact_url=url)
    text = str(info.value)
    assert "artifact_url" in text and all(w in text for w in words)


def test_the_api_exports_a_trial_whose_weights_are_only_in_the_store(tmp_path, store_url):
    data = dataset(make_frame(300, seed=2))
    model, candidate, result = train_trial(data, tmp_path / "trained", "shared_bottom")
    url = f"sqlite:///{tmp_path / 'automtl.db'}"
    upgrade(url)
    settings = Settings(env="test", database_url=url, data_dir=tmp_path / "data",
                        artifact_dir=tmp_path / "artifacts", artifact_url=store_url)
    with Database(url) as database, database.session() as session:
        owner = OwnerRepository(session).create("alice")
        _, token = TokenRepository(session).create(owner.id, "alice")
        job = JobRepository(session).create(owner.id, "store-job", _job_spec())
        published = artifact_store.publish(tmp_path / "trained",
                                           artifact_store.join(store_url, job.study_name,
                                                               "trial-0"))
        trials = TrialRepository(session)
        trials.upsert(job.id, 0, state="complete", config=candidate.model_dump(),
                      objectives={"click": 0.7, "watch": 1.0},
                      valid_metrics=result.valid_metrics, test_metrics=result.test_metrics,
                      num_params=model.num_parameters(), latency_ms=result.latency_ms,
                      artifact_path=stored_artifact(published, settings.artifact_location),
                      on_front=True)
        trials.upsert(job.id, 1, state="complete", objectives={"click": 0.5, "watch": 2.0},
                      artifact_path=f"{job.study_name}/trial-1", on_front=True)
        job_id = job.id
    assert not (tmp_path / "artifacts").exists() or \
        not any((tmp_path / "artifacts").rglob("model.pt"))
    from automtl_api.main import create_app

    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings)) as client:
        response = client.get(f"/api/v1/jobs/{job_id}/export?trial=0", headers=headers)
        assert response.status_code == 200, response.text
        with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
            weights = next(n for n in bundle.namelist() if n.endswith("weights.pt"))
            state = torch.load(io.BytesIO(bundle.read(weights)))
        assert all(torch.equal(state[k], v.detach().cpu())
                   for k, v in model.state_dict().items())
        missing = client.get(f"/api/v1/jobs/{job_id}/export?trial=1", headers=headers)
        assert missing.status_code == 410
        assert "trial-1" in missing.json()["detail"][0]["msg"]
