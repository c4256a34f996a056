"""A service database with a job of alice's: two trained front trials (with the trainable's
artifacts), a dominated one, a running one and a failed one; plus bob, who owns nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from export_helpers import TASKS, Service, dataset, make_frame, train_trial

#: objective values of the constructed front: trial 0 is best on click, trial 1 on watch
FRONT_VALUES = {0: {"click": 0.70, "watch": 2.0}, 1: {"click": 0.60, "watch": 1.0}}


@pytest.fixture(scope="module")
def trained_trials(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Any]:
    root = tmp_path_factory.mktemp("service-artifacts")
    data = dataset(make_frame(300, seed=2))
    out = {}
    for number, topology in ((0, "mmoe"), (1, "shared_bottom")):
        model, candidate, result = train_trial(data, root / f"trial-{number}", topology)
        out[number] = (model, candidate, result, root / f"trial-{number}")
    return out


def job_spec() -> dict[str, Any]:
    return {"name": "export-job", "dataset": {"path": "user.csv"},
            "tasks": [t.model_dump(exclude_none=True) for t in TASKS],
            "objectives": ["click", "watch"], "search_space": {"preset": "default"}}


@pytest.fixture
def service(tmp_path: Path, trained_trials: dict[int, Any]) -> Service:
    from automtl_api.settings import Settings
    from automtl_storage import (
        Database,
        JobRepository,
        OwnerRepository,
        TokenRepository,
        TrialRepository,
        upgrade,
    )

    url = f"sqlite:///{tmp_path / 'automtl.db'}"
    upgrade(url)
    settings = Settings(env="test", database_url=url, data_dir=tmp_path / "data",
                        artifact_dir=tmp_path / "artifacts")
    with Database(url) as database, database.session() as session:
        owners, tokens = OwnerRepository(session), TokenRepository(session)
        alice, bob = owners.create("alice"), owners.create("bob")
        _, alice_token = tokens.create(alice.id, "alice")
        _, bob_token = tokens.create(bob.id, "bob")
        job = JobRepository(session).create(alice.id, "export-job", job_spec())
        trials = TrialRepository(session)
        for number, (model, candidate, result, directory) in trained_trials.items():
            trials.upsert(job.id, number, state="complete", config=candidate.model_dump(),
                          objectives=FRONT_VALUES[number], valid_metrics=result.valid_metrics,
                          test_metrics=result.test_metrics, num_params=model.num_parameters(),
                          latency_ms=result.latency_ms, artifact_path=str(directory),
                          on_front=True)
        trials.upsert(job.id, 2, state="complete", objectives={"click": 0.5, "watch": 3.0},
                      artifact_path=str(tmp_path / "gone" / "trial-2"), on_front=False)
        trials.upsert(job.id, 3, state="running")
        trials.upsert(job.id, 4, state="failed", error="boom")
        job_id = job.id
    return Service(url, settings, alice_token, bob_token, job_id,
                   {n: t[:2] for n, t in trained_trials.items()})
