"""No response shows an absolute server path (issue 20 item 8)."""

from __future__ import annotations

from api_support import tiny_spec

from automtl_api.redact import relative_path, scrub_paths
from automtl_storage import Database, JobRepository, JobStatus, TrialRepository


def test_scrub_paths_relativises_known_roots_and_cuts_other_absolute_paths():
    roots = ["/srv/automtl-data"]
    text = ("DataError: cannot read '/srv/automtl-data/datasets/ab.csv' as csv; see "
            "/usr/lib/python3/x.py line 3, http://host/a/b and ratio 1/2")
    assert scrub_paths(text, roots) == ("DataError: cannot read 'datasets/ab.csv' as csv; see "
                                        "x.py line 3, http://host/a/b and ratio 1/2")
    assert scrub_paths(None) is None
    assert relative_path("/srv/automtl-data/artifacts/j1/w.pt", roots) == "artifacts/j1/w.pt"
    assert relative_path("/elsewhere/w.pt", roots) == "w.pt"


def test_job_and_trial_errors_and_artifact_paths_show_no_server_path(client, alice, settings):
    job = client.post("/api/v1/jobs", headers=alice, json=tiny_spec({"builtin": "synthetic"}))
    assert job.status_code == 202
    job_id = job.json()["id"]
    data = settings.data_dir.resolve()
    artifact = settings.resolved_artifact_dir / "job-1" / "trial-0" / "weights.pt"
    with Database(settings.resolved_database_url) as database, database.session() as session:
        row = JobRepository(session).get(job_id)
        row.status = JobStatus.FAILED
        row.error = f"DataError: cannot read '{data}/datasets/x.csv' as csv"
        trials = TrialRepository(session)
        trials.upsert(job_id, 0, state="failed", params={}, artifact_path=str(artifact),
                      error=f"OSError: [Errno 2] No such file: '{data}/datasets/x.csv'")
    detail = client.get(f"/api/v1/jobs/{job_id}", headers=alice).json()
    listed = client.get(f"/api/v1/jobs/{job_id}/trials", headers=alice).json()
    for text in (str(detail), str(listed)):
        assert str(data) not in text and "/tmp" not in text
    assert "x.csv" in detail["error"]
    trial = listed["items"][0]
    assert trial["artifact_path"] == "job-1/trial-0/weights.pt"
    assert "datasets/x.csv" in trial["error"]
