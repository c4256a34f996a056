"""Per-owner caps (issue 20 item 2: "cap budgets by server settings, documented, per owner"):
an administrator sets an owner's own limits with ``automtl owner limits``; they replace the
server-wide ``AUTOMTL_MAX_*`` for that owner only; ``max_active_jobs`` bounds how many of one
owner's jobs are queued or running, so one client cannot fill the queue for everyone."""

from __future__ import annotations

import pytest
from api_support import create_token, make_settings, paths_of, tiny_spec
from fastapi.testclient import TestClient

from automtl.cli import main as automtl_main
from automtl_api.main import create_app
from automtl_storage import Database, OwnerRepository, upgrade


def _set(settings, name: str, **limits) -> None:
    with Database(settings.resolved_database_url) as database, database.session() as session:
        owners = OwnerRepository(session)
        owners.set_limits(owners.get_or_create(name), limits)


def _synthetic(**overrides):
    return tiny_spec({"builtin": "synthetic"}, **overrides)


def test_an_owner_limit_replaces_the_server_cap_for_that_owner_only(client, settings, alice,
                                                                    bob):
    _set(settings, "alice", max_trials=5, max_epochs=3)
    over = client.post("/api/v1/jobs", headers=alice, json=_synthetic(trials=6))
    assert over.status_code == 422 and paths_of(over) == ["budget.trials"]
    message = over.json()["detail"][0]["msg"]
    assert "your limit of 5" in message and "AUTOMTL" not in message
    assert client.post("/api/v1/jobs", headers=bob, json=_synthetic(trials=6)).status_code == 202
    assert client.post("/api/v1/jobs", headers=alice, json=_synthetic(trials=5)).status_code \
        == 202
    epochs = _synthetic(trials=2)
    epochs["search_space"] = {**epochs["search_space"],
                              "optimizer": {**epochs["search_space"]["optimizer"],
                                            "epochs": 2}}
    epochs["budget"] = {**epochs.get("budget", {}), "epochs": 4, "trials": 2}
    response = client.post("/api/v1/jobs", headers=alice, json=epochs)
    assert response.status_code == 422 and "budget.epochs" in paths_of(response)


def test_an_owner_may_be_granted_more_than_the_server_default(tmp_path):
    settings = make_settings(tmp_path, max_trials=3)
    upgrade(settings.resolved_database_url)
    headers = create_token(settings, "dana")
    others = create_token(settings, "eli")
    _set(settings, "dana", max_trials=50)
    with TestClient(create_app(settings)) as client:
        assert client.post("/api/v1/jobs", headers=headers,
                           json=_synthetic(trials=20)).status_code == 202
        refused = client.post("/api/v1/jobs", headers=others, json=_synthetic(trials=20))
        assert refused.status_code == 422
        assert "AUTOMTL_MAX_TRIALS" in refused.json()["detail"][0]["msg"]


def test_active_jobs_are_capped_with_429_and_a_cancel_frees_a_slot(tmp_path):
    settings = make_settings(tmp_path, max_active_jobs=2)
    upgrade(settings.resolved_database_url)
    alice = create_token(settings, "alice")
    bob = create_token(settings, "bob")
    with TestClient(create_app(settings)) as client:
        first = client.post("/api/v1/jobs", headers=alice, json=_synthetic())
        second = client.post("/api/v1/jobs", headers=alice, json=_synthetic())
        assert first.status_code == second.status_code == 202
        third = client.post("/api/v1/jobs", headers=alice, json=_synthetic())
        assert third.status_code == 429, third.text
        assert third.headers["Retry-After"] == "60"
        assert "AUTOMTL_MAX_ACTIVE_JOBS" in third.json()["detail"][0]["msg"]
        # nothing was stored for the refused submission
        assert client.get("/api/v1/jobs", headers=alice).json()["total"] == 2
        # another owner has their own count
        assert client.post("/api/v1/jobs", headers=bob, json=_synthetic()).status_code == 202
        assert client.post(f"/api/v1/jobs/{first.json()['id']}/cancel",
                           headers=alice).status_code in (200, 202)
        assert client.post("/api/v1/jobs", headers=alice, json=_synthetic()).status_code == 202
        # resuming the cancelled job would make a third active one: refused the same way
        resumed = client.post(f"/api/v1/jobs/{first.json()['id']}/resume", headers=alice)
        assert resumed.status_code == 429, resumed.text
        assert client.get(f"/api/v1/jobs/{first.json()['id']}",
                          headers=alice).json()["status"] == "cancelled"


def test_get_limits_shows_each_cap_and_its_source(client, settings, alice):
    _set(settings, "alice", max_concurrency=2)
    client.post("/api/v1/jobs", headers=alice, json=_synthetic())
    body = client.get("/api/v1/limits", headers=alice).json()
    assert body["limits"]["max_concurrency"] == 2
    assert body["source"]["max_concurrency"] == "owner"
    assert body["limits"]["max_trials"] == settings.max_trials
    # counts are integers in the JSON (200, not 200.0), as the README shows them
    assert all(type(body["limits"][k]) is int for k in ("max_trials", "max_epochs",
                                                        "max_concurrency", "max_active_jobs"))
    # whole seconds too (604800, not 604800.0); a fraction of a second stays one
    assert settings.max_time_limit_s.is_integer()
    assert body["limits"]["max_time_limit_s"] == settings.max_time_limit_s
    assert type(body["limits"]["max_time_limit_s"]) is int
    _set(settings, "alice", max_time_limit_s=90.5)
    assert client.get("/api/v1/limits", headers=alice).json()["limits"][
        "max_time_limit_s"] == 90.5
    assert body["source"]["max_trials"] == "server"
    assert body["active_jobs"] == 1
    assert client.get("/api/v1/limits").status_code == 401
    assert "/api/v1/limits" in client.get("/openapi.json").json()["paths"]


def test_owner_limits_cli_sets_shows_and_resets(client, settings, alice, capsys, monkeypatch):
    url = settings.resolved_database_url
    monkeypatch.setenv("AUTOMTL_DATABASE_URL", url)
    assert automtl_main(["owner", "limits", "alice", "--max-trials", "7",
                         "--max-active-jobs", "3"]) == 0
    shown = capsys.readouterr().out
    assert any(line.split()[:3] == ["max_trials", "7", "owner"] for line in shown.splitlines())
    assert client.post("/api/v1/jobs", headers=alice, json=_synthetic(trials=8)).status_code \
        == 422
    # a second call keeps the first call's values and adds the new one
    assert automtl_main(["owner", "limits", "alice", "--max-epochs", "9"]) == 0
    body = client.get("/api/v1/limits", headers=alice).json()
    assert (body["limits"]["max_trials"], body["limits"]["max_epochs"]) == (7, 9)
    assert automtl_main(["owner", "limits", "alice", "--reset"]) == 0
    assert set(client.get("/api/v1/limits", headers=alice).json()["source"].values()) \
        == {"server"}
    capsys.readouterr()
    assert automtl_main(["owner", "limits", "alice", "--max-trials", "0"]) == 2
    assert "max-trials" in capsys.readouterr().err
    assert automtl_main(["owner", "limits", "nobody"]) == 2


def test_owner_limits_on_a_new_database_file(tmp_path, capsys, monkeypatch):
    """Issue 21 item 3: a fresh user's first ``owner limits`` on a new SQLite file migrates it
    (as ``serve`` and ``token create`` do), creates the owner when setting a cap, prints large
    caps as plain integers, refuses one over its documented bound and shows an unknown owner's
    error in one line; the database flag is ``--db`` here as in ``db upgrade``."""
    monkeypatch.delenv("AUTOMTL_DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert automtl_main(["owner", "limits", "carol", "--db", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no owner 'carol'" in err and "token create carol" in err
    assert automtl_main(["owner", "limits", "carol", "--db", url,
                         "--max-synthetic-rows", "2000000", "--max-time-limit-s", "90.5"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
    assert rows["max_synthetic_rows"] == ["2000000", "owner"]
    assert rows["max_time_limit_s"] == ["90.5", "owner"]
    assert rows["max_trials"][0] == "10000" and "e+" not in rows["max_trials"][0]
    with Database(url) as database, database.session() as session:
        owner = OwnerRepository(session).get_by_name("carol")
        assert owner is not None and owner.limits["max_synthetic_rows"] == 2_000_000
    assert automtl_main(["owner", "limits", "carol", "--db", url,
                         "--max-trials", "1000001"]) == 2
    assert "--max-trials: must be at most 1000000" in capsys.readouterr().err
    assert automtl_main(["owner", "limits", "carol", "--db", url,
                         "--max-time-limit-s", "1e9"]) == 2
    assert "--max-time-limit-s: must be at most 31622400" in capsys.readouterr().err
    # db upgrade takes the same --db flag; --url stays as its older name
    assert automtl_main(["db", "upgrade", "--db", url]) == 0
    assert "already at" in capsys.readouterr().out
    assert automtl_main(["db", "current", "--url", url]) == 0
    assert "up to date" in capsys.readouterr().out


def test_owner_limits_help_shows_each_cap_s_default_and_bound(capsys):
    with pytest.raises(SystemExit):
        automtl_main(["owner", "limits", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "AUTOMTL_MAX_SYNTHETIC_ROWS, by default 2000000" in text
    assert "at most 1000000000" in text and "by default 10000)" in text
