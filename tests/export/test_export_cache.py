"""Exports that survive a moved artifact root and are built once (issue 22, item 5): trial
artifact paths are stored relative to the artifact root (older absolute rows still read), and
``GET /export`` serves one zip per trial and choice with a stable ETag."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from export_helpers import Service
from fastapi.testclient import TestClient

from automtl_storage import Database, JobRepository, Trial, TrialRepository


def _client(settings) -> TestClient:  # type: ignore[no-untyped-def]
    from automtl_api.main import create_app

    return TestClient(create_app(settings))


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with _client(service.settings) as test_client:
        yield test_client


def _get(client: TestClient, service: Service, query: str, **headers: str):  # type: ignore[no-untyped-def]
    return client.get(f"/api/v1/jobs/{service.job_id}/export{query}",
                      headers={"Authorization": f"Bearer {service.alice_token}", **headers})


def _zips(service: Service) -> list[Path]:
    folder = service.settings.resolved_artifact_dir / "exports" / f"job-{service.job_id}"
    return sorted(folder.glob("*.zip")) if folder.exists() else []


def _export_rows(service: Service) -> int:
    from automtl_storage import ExportRepository

    with Database(service.url) as database, database.session() as session:
        return len(ExportRepository(session).list_for_job(service.job_id))


def test_twenty_gets_build_one_zip_with_one_etag(client: TestClient, service: Service) -> None:
    responses = [_get(client, service, "?trial=1") for _ in range(20)]
    assert all(r.status_code == 200 for r in responses)
    etags = {r.headers["etag"] for r in responses}
    assert len(etags) == 1 and next(iter(etags)).startswith('"')
    assert len({r.content for r in responses}) == 1  # the same bytes every time
    assert len(_zips(service)) == 1
    assert _export_rows(service) == 1  # recorded when built, not per download
    other = _get(client, service, "?trial=0")
    assert other.headers["etag"] not in etags and len(_zips(service)) == 2


def test_if_none_match_with_the_current_etag_answers_304(client: TestClient,
                                                         service: Service) -> None:
    first = _get(client, service, "?trial=1")
    etag = first.headers["etag"]
    again = _get(client, service, "?trial=1", **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    listed = _get(client, service, "?trial=1", **{"If-None-Match": f'"other", W/{etag}'})
    assert listed.status_code == 304
    stale = _get(client, service, "?trial=1", **{"If-None-Match": '"not-this-one"'})
    assert stale.status_code == 200 and stale.content == first.content


def test_a_different_front_choice_is_a_different_bundle(client: TestClient,
                                                         service: Service) -> None:
    by_trial = _get(client, service, "?trial=1")
    chosen = _get(client, service, "?prefer=watch=3")  # chooses trial 1, adds choice.json
    assert chosen.headers["x-automtl-trial"] == "1"
    assert chosen.headers["etag"] != by_trial.headers["etag"]
    assert _get(client, service, "?prefer=watch=3").headers["etag"] == chosen.headers["etag"]


def _store_relative(service: Service, root: Path) -> str:
    """Move the trained trials under ``root/<study>/trial-<n>`` and store relative paths, as
    the worker now does; the study name."""
    with Database(service.url) as database, database.session() as session:
        job = JobRepository(session).get(service.job_id)
        study = job.study_name
        trials = TrialRepository(session)
        for row in session.query(Trial).filter(Trial.job_id == service.job_id,
                                               Trial.number.in_([0, 1])):
            target = root / study / f"trial-{row.number}"
            shutil.copytree(row.artifact_path, target)
            trials.upsert(service.job_id, row.number,
                          artifact_path=f"{study}/trial-{row.number}")
    return study


def test_relative_artifact_paths_survive_moving_the_artifact_root(service: Service,
                                                                  tmp_path: Path) -> None:
    root = service.settings.resolved_artifact_dir
    _store_relative(service, root)
    with _client(service.settings) as client:
        before = _get(client, service, "?trial=0")
    assert before.status_code == 200, before.text
    moved = tmp_path / "restored" / "artifacts"
    shutil.move(str(root), moved)  # e.g. a backup restored on another machine
    settings = service.settings.model_copy(update={"artifact_dir": moved})
    with _client(settings) as client:
        after = _get(client, service, "?trial=0")
    assert after.status_code == 200, after.text
    # the cached bundle moved along: served again, same content key
    assert after.headers["etag"] == before.headers["etag"]
    assert after.content == before.content


def test_older_absolute_paths_are_rebased_onto_a_moved_root(service: Service,
                                                           tmp_path: Path) -> None:
    old_root = service.settings.resolved_artifact_dir
    study = _store_relative(service, old_root)
    with Database(service.url) as database, database.session() as session:
        for number in (0, 1):  # rows as the worker wrote them before 0003: absolute
            TrialRepository(session).upsert(
                service.job_id, number, artifact_path=str(old_root / study / f"trial-{number}"))
    new_root = tmp_path / "elsewhere"
    shutil.move(str(old_root), new_root)
    assert not (old_root / study).exists()
    settings = service.settings.model_copy(update={"artifact_dir": new_root})
    with _client(settings) as client:
        response = _get(client, service, "?trial=1")
    assert response.status_code == 200, response.text
    missing = tmp_path / "nowhere"
    settings = service.settings.model_copy(update={"artifact_dir": missing})
    with _client(settings) as client:
        gone = _get(client, service, "?trial=1")
    assert gone.status_code == 410
    assert str(missing / study / "trial-1") in gone.text  # says where it looked
