"""Serving the report and the REST conventions around it: gzip, ETag and 304, the cache of
finished jobs' pages, shared Plotly, offline /docs and /redoc, Location, totals, tags."""

from __future__ import annotations

import gzip
import re
from typing import Any

import optuna
import pytest
from api_support import tiny_spec
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from automtl.search.study import check_study
from automtl.trial_record import ATTR_CANDIDATE, ATTR_CURVE, ATTR_VALID
from automtl_storage import Database, JobRepository, JobStatus, optuna_storage
from automtl_storage.types import utcnow


def _submit(client, headers) -> dict[str, Any]:
    response = client.post("/api/v1/jobs", headers=headers,
                           json=tiny_spec({"builtin": "synthetic", "rows": 500}))
    assert response.status_code == 202, response.text
    return response


def _fill_study(settings, job: dict[str, Any], trials: int = 8) -> None:
    """The study a worker would have left: complete trials with candidates and curves."""
    from automtl.jobspec import load_job_spec

    spec = load_job_spec(tiny_spec({"builtin": "synthetic", "rows": 500}))
    storage = optuna_storage(settings.resolved_database_url)
    study = optuna.create_study(study_name=job["study_name"], storage=storage,
                                directions=["maximize", "maximize"])
    check_study(study, spec)
    distributions = {"topology": CategoricalDistribution(["mmoe", "single_task"]),
                     "lr": FloatDistribution(1e-4, 1e-1, log=True)}
    for number in range(trials):
        topology = "mmoe" if number % 2 else "single_task"
        y1, y2 = 0.6 + 0.01 * number, 0.7 - 0.005 * number
        study.add_trial(create_trial(
            state=TrialState.COMPLETE, values=[y1, y2],
            params={"topology": topology, "lr": 10 ** -(1 + number % 3)},
            distributions=distributions,
            user_attrs={ATTR_CANDIDATE: {"architecture": {"topology": topology},
                                         "weighting": {"name": "equal", "params": {}}},
                        ATTR_VALID: {"y1": {"auc": y1}, "y2": {"auc": y2}},
                        ATTR_CURVE: {"epoch": [1, 2], "y1/auc": [y1 - 0.05, y1],
                                     "y2/auc": [y2 - 0.05, y2]}}))


def _finish(settings, job_id: int) -> None:
    with Database(settings.resolved_database_url) as database, database.session() as session:
        job = JobRepository(session).get(job_id)
        job.status = JobStatus.SUCCEEDED
        job.finished_at = utcnow()


@pytest.fixture
def finished(client, alice, settings) -> dict[str, Any]:
    job = _submit(client, alice).json()
    _fill_study(settings, job)
    _finish(settings, job["id"])
    return job


def test_post_jobs_answers_202_with_the_location_of_the_new_job(client, alice):
    response = _submit(client, alice)
    job = response.json()
    location = response.headers["Location"]
    assert location.endswith(f"/api/v1/jobs/{job['id']}")
    assert client.get(location, headers=alice).json()["id"] == job["id"]


def test_lists_give_the_total_count(client, alice, upload):
    for _ in range(3):
        _submit(client, alice)
    page = client.get("/api/v1/jobs?limit=2", headers=alice).json()
    assert (len(page["items"]), page["total"], page["has_more"]) == (2, 3, True)
    assert client.get("/api/v1/jobs?status=running", headers=alice).json()["total"] == 0
    upload(alice)
    assert client.get("/api/v1/datasets", headers=alice).json()["total"] == 1
    job_id = page["items"][0]["id"]
    assert client.get(f"/api/v1/jobs/{job_id}/trials", headers=alice).json()["total"] == 0


def test_the_report_is_gzipped_with_an_etag_and_304_when_unchanged(client, alice, finished):
    url = f"/api/v1/jobs/{finished['id']}/report"
    # httpx decodes gzip transparently; the raw stream shows what travelled
    with client.stream("GET", url, headers={**alice, "Accept-Encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    page = gzip.decompress(raw).decode()
    assert 'id="pareto-front"' in page and 'id="learning-curves"' in page
    assert len(raw) < len(page.encode()) / 2
    etag = response.headers["etag"]
    again = client.get(url, headers={**alice, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = client.get(url, headers={**alice, "If-None-Match": '"stale"'})
    assert other.status_code == 200 and other.headers["etag"] == etag
    plain = client.get(url, headers={**alice, "Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == page


def test_a_finished_jobs_page_is_rendered_once(client, alice, finished):
    url = f"/api/v1/jobs/{finished['id']}/report"
    first = client.get(url, headers=alice)
    cache = client.app.state.result_cache
    renders = cache.renders
    for _ in range(3):
        assert client.get(url, headers=alice).text == first.text
    assert cache.renders == renders  # served from the cache
    # each report mode is a page of its own; the default is the shared one
    assert client.get(f"{url}?plotly=shared", headers=alice).text == first.text
    assert cache.renders == renders
    client.get(f"{url}?plotly=inline", headers=alice)
    assert cache.renders == renders + 1


def test_the_report_loads_plotly_from_the_api_unless_inline_is_asked(client, alice, finished):
    url = f"/api/v1/jobs/{finished['id']}/report"
    shared = client.get(url, headers=alice).text  # the default
    inline = client.get(f"{url}?plotly=inline", headers=alice).text
    assert "plotly.js v" in inline and "plotly.js v" not in shared
    assert not re.findall(r'<script[^>]+src="([^"]+)"', inline)  # opens offline
    sources = re.findall(r'<script[^>]+src="([^"]+)"', shared)
    assert sources == ["/api/v1/assets/plotly.min.js"]
    script = client.get(sources[0])  # public, no token
    assert script.status_code == 200 and "plotly.js v" in script.text[:2000]
    assert script.headers["content-type"].startswith("application/javascript")
    assert "max-age" in script.headers["cache-control"]
    assert len(shared) * 10 < len(inline)


def test_the_report_names_the_metrics_and_shows_importances(client, alice, finished):
    page = client.get(f"/api/v1/jobs/{finished['id']}/report", headers=alice).text
    assert "y1 auc (valid), higher is better" in page
    assert 'id="param-importances"' in page and 'id="parallel-coordinates"' in page
    assert 'id="trials-table"' in page and 'id="topology-table"' in page


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_reference_no_external_host(client, path):
    page = client.get(path)
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', page.text)
    urls += re.findall(r"url:\s*'([^']+)'", page.text)
    assert urls, page.text
    assert not [u for u in urls if re.match(r"(https?:)?//", u)], urls
    assert "fonts.googleapis" not in page.text and "cdn.jsdelivr" not in page.text
    for url in urls:
        if url.startswith("/api/v1/assets/"):
            asset = client.get(url)
            assert asset.status_code == 200 and len(asset.content) > 1000, url


def test_every_route_has_a_summary_and_every_tag_a_description(client):
    schema = client.get("/openapi.json").json()
    described = {t["name"] for t in schema["tags"] if t.get("description")}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            function = operation["operationId"].split("_api_v1")[0]
            # written, not FastAPI's default (the function's name title-cased)
            assert operation.get("summary"), f"{method} {path}"
            assert operation["summary"].lower() != function.replace("_", " "), f"{method} {path}"
            assert operation.get("description"), f"{method} {path}"
            assert set(operation.get("tags", [])) <= described, f"{method} {path}"


def test_the_pareto_route_serves_each_trial_as_the_one_field_list(client, alice, finished):
    """GET /pareto's trials are the trial record (automtl.trial_record.TRIAL_FIELDS), the
    same keys the report and the export read; its CSV names the record's columns alike."""
    from automtl.trial_record import TRIAL_FIELD_NAMES

    url = f"/api/v1/jobs/{finished['id']}/pareto"
    front = client.get(url, headers=alice).json()
    # (the response model lists its declared fields first: the same keys, in another order)
    assert front["trials"] and all(sorted(t) == sorted(TRIAL_FIELD_NAMES)
                                   for t in front["trials"])
    assert all(t["on_front"] and t["params"]["topology"] in ("mmoe", "single_task")
               for t in front["trials"])
    header = client.get(f"{url}?format=csv", headers=alice).text.splitlines()[0].split(",")
    assert header[:5] == ["trial", "topology", "weighting", "y1", "y2"]
    assert {"num_params", "latency_ms"} <= set(header) and "params" not in header
