"""``automtl export JOB`` against the service database: the chosen trial is printed and
written into the bundle, the export is recorded, and bad requests exit with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from export_helpers import Service

from automtl.cli import main
from automtl.export import load_bundle_config


def _exports(service: Service) -> list[tuple[int, str]]:
    from automtl_storage import Database, ExportRepository, Trial

    with Database(service.url) as database, database.session() as session:
        return [(session.get(Trial, e.trial_id).number, e.location)
                for e in ExportRepository(session).list_for_job(service.job_id)]


def test_prefer_chooses_prints_and_records(service: Service, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bundle"
    code = main(["export", str(service.job_id), "--db", service.url, "--prefer", "watch=3",
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert f"chose trial 1 of job {service.job_id} from its 2-trial front" in printed
    assert "* trial    1" in printed and "score" in printed
    # --prefer watch=3 weighs click 1: the resolved weights of both are printed
    assert "weights: click=1, watch=3 (click not named: weight 1)" in printed
    assert "weights click=1, watch=3 (click not named: weight 1)" in \
        (out / "README.md").read_text()
    choice = json.loads((out / "choice.json").read_text())
    assert choice["chosen_trial"] == 1 and choice["weights"] == {"click": 1.0, "watch": 3.0}
    assert "trial 1 has the highest weighted score" in (out / "README.md").read_text()
    model, _ = service.trained[1]
    model_config, _, _ = load_bundle_config(out / "config.yaml")
    assert model_config == model.config
    assert _exports(service) == [(1, str(out.resolve()))]

    # equal weights: 0 scores 1 + 0 = 1, 1 scores 0 + 1 = 1: the tie goes to trial 0
    assert main(["export", str(service.job_id), "--db", service.url,
                 "--out", str(tmp_path / "equal")]) == 0
    assert json.loads((tmp_path / "equal" / "choice.json").read_text())["chosen_trial"] == 0


def test_trial_by_number_uses_the_environment_url(service: Service, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUTOMTL_DATABASE_URL", service.url)
    assert main(["export", str(service.job_id), "--trial", "0", "--out",
                 str(tmp_path / "b")]) == 0
    assert "exporting trial 0" in capsys.readouterr().out
    assert not (tmp_path / "b" / "choice.json").exists()
    # a non-empty --out is refused unless --force
    assert main(["export", str(service.job_id), "--trial", "1", "--out",
                 str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "not an empty directory" in err and "--force" in err and "--out" in err
    assert main(["export", str(service.job_id), "--trial", "1", "--out", str(tmp_path / "b"),
                 "--force"]) == 0
    assert load_bundle_config(tmp_path / "b" / "config.yaml").model.topology == "shared_bottom"
    assert [n for n, _ in _exports(service)] == [1, 0]


@pytest.mark.parametrize(("args", "message"), [
    (["--trial", "9"], "has no trial 9; its trials are 0-4"),
    (["--trial", "3"], "trial 3 of job {job} is running, not finished"),
    (["--trial", "2"], "saved weights of trial 2 of job {job} are missing"),
    (["--prefer", "nope=1"], "--prefer: unknown objective(s) ['nope']"),
    (["--prefer", "click"], "--prefer: expected OBJECTIVE=WEIGHT"),
])
def test_errors_exit_2_with_the_reason(service: Service, tmp_path: Path, args: list[str],
                                       message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["export", str(service.job_id), "--db", service.url, *args,
                 "--out", str(tmp_path / "b")])
    assert code == 2
    assert message.format(job=service.job_id) in capsys.readouterr().err
    assert not (tmp_path / "b").exists() and _exports(service) == []


def test_missing_job_and_database(service: Service, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "999", "--db", service.url, "--out", str(tmp_path / "b")]) == 2
    assert "job 999 not found" in capsys.readouterr().err
    nowhere = f"sqlite:///{tmp_path / 'none.db'}"
    assert main(["export", "1", "--db", nowhere, "--out", str(tmp_path / "b")]) == 2
    assert "no database at" in capsys.readouterr().err
    assert main(["export", "--out", str(tmp_path / "b")]) == 2
    assert "give a JOB id or --search-dir" in capsys.readouterr().err


def test_a_bad_settings_variable_exits_2_naming_it(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Without --db the service settings give the database; a bad variable is named as set."""
    monkeypatch.delenv("AUTOMTL_DATABASE_URL", raising=False)
    monkeypatch.setenv("AUTOMTL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AUTOMTL_ARTIFACT_URL", "not-a-url")
    assert main(["export", "1", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "AUTOMTL_ARTIFACT_URL: 'not-a-url' is not a URL" in err and "Traceback" not in err
    assert not (tmp_path / "b").exists()
