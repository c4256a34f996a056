"""``/datasets`` (upload with a size limit and schema detection, list, get) and
``/search-spaces`` (presets, validate)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
from api_support import create_token, make_settings, paths_of, tiny_csv
from fastapi.testclient import TestClient

from automtl_api.main import create_app
from automtl_storage import Database, DatasetRepository, upgrade


def test_upload_detects_the_schema_and_stores_the_file_under_a_generated_name(
        client, alice, settings):
    response = client.post("/api/v1/datasets", headers=alice, data={"name": "clicks"},
                           files={"file": ("../../evil name.csv", tiny_csv(), "text/csv")})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "clicks" and body["rows"] == 1500 and body["format"] == "csv"
    columns = {c["name"]: c for c in body["columns"]}
    assert list(columns) == [f"x{i}" for i in range(8)] + ["c0", "y1", "y2"]
    assert columns["x0"]["kind"] == "numeric" and columns["c0"]["kind"] == "categorical"
    assert columns["y1"]["binary"] is True and columns["x0"]["binary"] is False
    with Database(settings.resolved_database_url) as database, database.session() as session:
        row = DatasetRepository(session).get(body["id"])
        assert row is not None
        stored = settings.data_dir.resolve() / row.storage_path
    assert stored.parent == settings.upload_dir and stored.suffix == ".csv"
    assert "evil" not in stored.name and stored.read_bytes() == tiny_csv()
    assert body["size_bytes"] == len(tiny_csv())


def test_the_same_bytes_again_answer_the_existing_dataset(client, alice, bob, settings):
    first = client.post("/api/v1/datasets", headers=alice, files={"file": ("a.csv", tiny_csv())})
    again = client.post("/api/v1/datasets", headers=alice, files={"file": ("b.csv", tiny_csv())})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    theirs = client.post("/api/v1/datasets", headers=bob, files={"file": ("a.csv", tiny_csv())})
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    assert len(list(settings.upload_dir.iterdir())) == 2


def test_parquet_uploads_are_read(client, alice):
    frame = pd.read_csv(io.BytesIO(tiny_csv(rows=200)))
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    response = client.post("/api/v1/datasets", headers=alice,
                           files={"file": ("t.parquet", buffer.getvalue())})
    assert response.status_code == 201, response.text
    assert response.json()["format"] == "parquet" and response.json()["rows"] == 200


def test_an_oversized_upload_is_413_and_leaves_no_file(tmp_path: Path):
    settings = make_settings(tmp_path, max_upload_bytes=10_000)
    upgrade(settings.resolved_database_url)
    headers = create_token(settings, "alice")
    with TestClient(create_app(settings)) as client:
        big = tiny_csv()  # ~150 kB > 64 kB of multipart slack: refused before it is read
        response = client.post("/api/v1/datasets", headers=headers, files={"file": ("a.csv", big)})
        assert response.status_code == 413
        assert "10000 bytes" in response.json()["detail"][0]["msg"]
        # just over the limit (within the slack): counted while copied
        response = client.post("/api/v1/datasets", headers=headers,
                               files={"file": ("a.csv", big[:10_001])})
        assert response.status_code == 413 and paths_of(response) == ["file"]
        assert not any(settings.upload_dir.iterdir())
        small = client.post("/api/v1/datasets", headers=headers,
                            files={"file": ("a.csv", tiny_csv(rows=50))})
        assert small.status_code == 201


def test_non_tabular_uploads_are_422(client, alice, settings):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    cases = [("image.png", png, "unsupported file"), ("image.csv", png, "not a readable csv"),
             ("fake.parquet", b"a,b\n1,2\n", "not a readable parquet"),
             ("one.csv", b"only\n1\n2\n", "at least two columns"),
             ("empty.csv", b"", "empty"), ("header.csv", b"a,b\n", "rows")]
    for filename, content, message in cases:
        response = client.post("/api/v1/datasets", headers=alice,
                               files={"file": (filename, content)})
        assert response.status_code == 422, (filename, response.text)
        assert paths_of(response) == ["file"]
        assert message in response.json()["detail"][0]["msg"], (filename, response.json())
        assert str(settings.data_dir) not in response.text  # no server paths leak
    missing = client.post("/api/v1/datasets", headers=alice)
    assert missing.status_code == 422 and paths_of(missing) == ["file"]
    assert not settings.upload_dir.exists() or not any(settings.upload_dir.iterdir())


def test_datasets_are_listed_and_read_only_by_their_owner(client, alice, bob, upload):
    mine = upload(alice)
    newer = upload(alice, tiny_csv(rows=100, seed=2), "other.csv")
    page = client.get("/api/v1/datasets", headers=alice).json()
    assert [d["id"] for d in page["items"]] == [newer["id"], mine["id"]]
    assert client.get("/api/v1/datasets", headers=bob).json()["items"] == []
    assert client.get(f"/api/v1/datasets/{mine['id']}", headers=alice).json()["rows"] == 1500
    hidden = client.get(f"/api/v1/datasets/{mine['id']}", headers=bob)
    assert hidden.status_code == 404 and hidden.json()["detail"][0]["loc"] == ["path",
                                                                               "dataset_id"]


def test_presets_are_listed_with_their_documents(client, alice):
    presets = client.get("/api/v1/search-spaces/presets", headers=alice).json()
    by_name = {p["name"]: p for p in presets}
    assert "default" in by_name
    assert "mmoe" in by_name["default"]["topologies"]
    assert "topology" in by_name["default"]["document"]


def test_a_search_space_is_validated_with_every_error_path(client, alice):
    ok = client.post("/api/v1/search-spaces/validate", headers=alice,
                     json={"topology": {"choose": {"mmoe": {"experts": {"int": [2, 4]}}}}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["valid"] is True and ok.json()["topologies"] == ["mmoe"]
    assert ok.json()["summary"]["discrete_combinations"] >= 3
    preset = client.post("/api/v1/search-spaces/validate", headers=alice,
                         json={"preset": "default"})
    assert preset.status_code == 200
    bad = client.post("/api/v1/search-spaces/validate", headers=alice,
                      json={"topology": {"choose": {"hydra": {},
                                                    "ple": {"levels": {"int": [3, 1]}}}}})
    assert bad.status_code == 422
    assert "topology.choose.hydra" in paths_of(bad)
    assert any(p.startswith("topology.choose.ple.levels") for p in paths_of(bad))
    fixed = {"topology": {"choose": {"mmoe": {}}},
             "weighting": {"choose": {"fixed": {"y1": 1.0}}}}
    alone = client.post("/api/v1/search-spaces/validate?tasks=y1", headers=alice, json=fixed)
    assert alone.status_code == 200, alone.text
    short = client.post("/api/v1/search-spaces/validate?tasks=y1&tasks=y2", headers=alice,
                        json=fixed)
    assert short.status_code == 422
    assert paths_of(short) == ["weighting.choose.fixed"]
    assert "y2" in short.json()["detail"][0]["msg"]


def test_a_space_naming_a_topology_that_needs_a_job_field_is_valid_with_a_warning(client,
                                                                                   alice):
    """The space alone is valid (no job here), so the answer is 200; a job without the field
    would be refused, which ``warnings`` says at the topology's path. A preset leaves such a
    topology out of that job instead: listed in ``needs_job_fields``, no warning."""
    named = client.post("/api/v1/search-spaces/validate", headers=alice,
                        json={"topology": {"choose": {"mmoe": {}, "star": {}, "aitm": {}}}})
    assert named.status_code == 200, named.text
    body = named.json()
    assert body["valid"] is True and sorted(body["topologies"]) == ["aitm", "mmoe", "star"]
    assert body["needs_job_fields"] == {"aitm": ["sequence"], "star": ["domains"]}
    assert body["warnings"] == [
        "topology.choose.aitm: aitm needs 'sequence' in the job spec; set it or leave aitm out "
        "(a job without it is refused)",
        "topology.choose.star: star needs 'domains' in the job spec; set it or leave star out "
        "(a job without it is refused)"]
    plain = client.post("/api/v1/search-spaces/validate", headers=alice,
                        json={"topology": {"choose": {"mmoe": {}}}}).json()
    assert plain["warnings"] == [] and plain["needs_job_fields"] == {}
    preset = client.post("/api/v1/search-spaces/validate", headers=alice,
                         json={"preset": "default"}).json()
    assert preset["warnings"] == [] and preset["needs_job_fields"] == {"aitm": ["sequence"]}


def test_the_cli_and_rest_validation_give_the_same_job_field_warnings(client, alice, tmp_path,
                                                                        capsys):
    """``automtl space validate`` was silent about star/aitm where the REST answer warned."""
    from automtl.cli import main

    document = {"topology": {"choose": {"mmoe": {}, "star": {}, "aitm": {}}}}
    rest = client.post("/api/v1/search-spaces/validate", headers=alice, json=document).json()
    assert rest["needs_job_fields"] == {"aitm": ["sequence"], "star": ["domains"]}
    assert [w.split(":")[0] for w in rest["warnings"]] == ["topology.choose.aitm",
                                                           "topology.choose.star"]
    path = tmp_path / "space.json"
    path.write_text(json.dumps(document))
    assert main(["space", "validate", str(path)]) == 0
    printed = [line.strip().removeprefix("warning: ")
               for line in capsys.readouterr().out.splitlines() if "warning:" in line]
    assert printed == rest["warnings"]
    assert main(["space", "validate", "default"]) == 0  # a preset leaves them out: no warning
    assert "warning" not in capsys.readouterr().out
