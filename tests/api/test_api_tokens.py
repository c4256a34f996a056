"""Tokens expire and can be revoked (issue 20 item 8): both answer 401 at once."""

from __future__ import annotations

from datetime import timedelta

from automtl.cli import main as automtl_main
from automtl_storage import Database, OwnerRepository, TokenRepository, utcnow


def _token(settings, expires_at=None) -> tuple[int, str]:
    with Database(settings.resolved_database_url) as database, database.session() as session:
        owner = OwnerRepository(session).get_or_create("frank")
        row, plain = TokenRepository(session).create(owner.id, "t", expires_at=expires_at)
    return row.id, plain


def test_an_expired_token_is_401(client, settings):
    _, live = _token(settings, utcnow() + timedelta(hours=1))
    _, dead = _token(settings, utcnow() - timedelta(seconds=1))
    assert client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {live}"}) \
        .status_code == 200
    response = client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {dead}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"][0]["msg"]


def test_token_create_sets_an_expiry_and_revoke_ends_a_token(client, settings, capsys,
                                                             monkeypatch):
    url = settings.resolved_database_url
    assert automtl_main(["token", "create", "gina", "--db", url, "--ttl-days", "2"]) == 0
    out, err = capsys.readouterr()
    plain = out.strip()
    assert "expires" in err
    with Database(url) as database, database.session() as session:
        row = TokenRepository(session).get_by_hash(__import__("hashlib").sha256(
            plain.encode()).hexdigest())
        assert row is not None and row.expires_at is not None
        assert timedelta(days=1.9) < row.expires_at - utcnow() < timedelta(days=2.1)
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/jobs", headers=headers).status_code == 200
    monkeypatch.setenv("AUTOMTL_DATABASE_URL", url)
    assert automtl_main(["token", "revoke", plain]) == 0
    assert client.get("/api/v1/jobs", headers=headers).status_code == 401
    token_id, other = _token(settings)
    assert automtl_main(["token", "revoke", str(token_id), "--db", url]) == 0
    assert client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {other}"}) \
        .status_code == 401
    assert automtl_main(["token", "revoke", "999999", "--db", url]) == 2


def test_ttl_zero_never_expires(settings, capsys):
    url = settings.resolved_database_url
    assert automtl_main(["token", "create", "hal", "--db", url, "--ttl-days", "0"]) == 0
    assert "never expires" in capsys.readouterr().err
    assert automtl_main(["token", "create", "hal", "--db", url, "--ttl-days", "-1"]) == 2


def test_a_job_route_refuses_a_revoked_token_at_once_and_records_use(client, settings):
    """The job routes read the token and the job in one dependency: a revocation from another
    process is seen by the very next request, and last_used_at is still written."""
    token_id, plain = _token(settings)
    headers = {"Authorization": f"Bearer {plain}"}
    job = client.post("/api/v1/jobs", headers=headers,
                      json={"name": "r", "dataset": {"builtin": "synthetic", "rows": 500},
                            "tasks": [{"name": "y1"}, {"name": "y2"}],
                            "budget": {"trials": 2, "epochs": 1}})
    assert job.status_code == 202, job.text
    url = f"/api/v1/jobs/{job.json()['id']}"
    assert client.get(url, headers=headers).status_code == 200
    with Database(settings.resolved_database_url) as database, database.session() as session:
        row = TokenRepository(session).get(token_id)
        assert row is not None and row.last_used_at is not None
        TokenRepository(session).revoke(token_id)
    for path in (url, f"{url}/trials", f"{url}/pareto", f"{url}/report", "/api/v1/jobs"):
        assert client.get(path, headers=headers).status_code == 401, path


def test_token_commands_name_their_database_list_tokens_and_refuse_a_second_revoke(
        settings, capsys, tmp_path, monkeypatch):
    """New-user pass item 7: `token create` in another folder silently made
    ./automtl-data/automtl.db; there was no `token list`; revoking a token twice said "revoked"
    both times with exit 0."""
    url = settings.resolved_database_url
    database_file = url.removeprefix("sqlite:///")
    assert automtl_main(["token", "create", "ivy", "--db", url]) == 0
    out, err = capsys.readouterr()
    assert f"database: sqlite:///{database_file}" in err
    assert automtl_main(["token", "create", "jon", "--db", url, "--ttl-days", "0"]) == 0
    capsys.readouterr()
    assert automtl_main(["token", "list", "--db", url]) == 0
    out, err = capsys.readouterr()
    assert f"database: sqlite:///{database_file}" in err
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["id", "owner", "label"]
    rows = {line.split()[1]: line.split() for line in lines[1:]}
    assert rows["ivy"][-1] == "active" and rows["jon"][-1] == "active"
    assert "amtl_" not in out  # the tokens themselves are never shown
    ivy = rows["ivy"][0]
    assert automtl_main(["token", "revoke", ivy, "--db", url]) == 0
    assert f"database: sqlite:///{database_file}" in capsys.readouterr().err
    assert automtl_main(["token", "revoke", ivy, "--db", url]) == 2
    assert "already revoked" in capsys.readouterr().err
    assert automtl_main(["token", "revoke", "999999", "--db", url]) == 2
    assert "no token '999999'" in capsys.readouterr().err
    assert automtl_main(["token", "list", "--db", url, "--owner", "ivy"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[-1] for line in out.strip().splitlines()[1:]] == ["revoked"]
    # the default database is shown as an absolute path, whatever the folder
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTOMTL_DATABASE_URL", raising=False)
    monkeypatch.delenv("AUTOMTL_DATA_DIR", raising=False)
    assert automtl_main(["token", "list"]) == 0
    assert f"database: sqlite:///{tmp_path}/" in capsys.readouterr().err
