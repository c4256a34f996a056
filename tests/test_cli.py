"""The ``automtl`` command's shared behaviour: user errors end in one line and exit 2 with
nothing written, ``--version``, help with defaults and without reST markup. The cases are the
ones the issue quotes: a missing CSV, a missing label column, bad YAML (search and submit)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from automtl.cli import build_parser, main
from automtl.commands.console import SearchProgress, run_command

SPEC = """name: errors
dataset: {{path: {path}}}
tasks: [{{name: t1, label: {label}, type: binary}}, {{name: t2, label: y2, type: binary}}]
budget: {{trials: 2, epochs: 1}}
"""


def _table(path: Path) -> Path:
    path.write_text("x0,x1,y1,y2\n" + "".join(f"{i},{i % 3},{i % 2},{(i // 2) % 2}\n"
                                              for i in range(60)))
    return path


def _assert_one_line_error(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[0].startswith("automtl search: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], err


def test_a_missing_csv_exits_2_naming_the_file_and_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "job.yaml"
    spec.write_text(SPEC.format(path=tmp_path / "nope.csv", label="y1"))
    out = tmp_path / "out"
    assert main(["search", str(spec), "--out", str(out)]) == 2
    _assert_one_line_error(capsys.readouterr().err, "nope.csv")
    assert not out.exists()


def test_a_missing_label_column_exits_2_naming_the_column(tmp_path, capsys):
    spec = tmp_path / "job.yaml"
    spec.write_text(SPEC.format(path=_table(tmp_path / "t.csv"), label="clicked"))
    out = tmp_path / "out"
    assert main(["search", str(spec), "--out", str(out)]) == 2
    _assert_one_line_error(capsys.readouterr().err, "'clicked'")
    assert not out.exists()


def test_a_bad_multiclass_label_exits_2_at_the_tasks_field_as_over_rest(tmp_path, capsys):
    table = tmp_path / "t.csv"
    table.write_text("x0,y1,seg\n" + "".join(f"{i},{i % 2},{i % 3 + 0.5}\n" for i in range(60)))
    spec = tmp_path / "job.yaml"
    spec.write_text(f"name: mc\ndataset: {{path: {table}}}\n"
                    "tasks: [{name: t1, label: y1}, {name: seg, type: multiclass}]\n"
                    "budget: {trials: 2, epochs: 1}\n")
    out = tmp_path / "out"
    assert main(["search", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    _assert_one_line_error(err, "tasks[1].type: ", "'seg'", "fractional numbers")
    assert not out.exists()


@pytest.mark.parametrize("text", ["name: [unclosed\n", "- just\n- a list\n",
                                  "name: x\ntasks: 3\ndataset: {builtin: synthetic}\n"])
def test_a_bad_spec_exits_2_with_the_problem(tmp_path, capsys, text):
    spec = tmp_path / "job.yaml"
    spec.write_text(text)
    assert main(["search", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    _assert_one_line_error(err)
    assert len(err.strip().splitlines()) == 1  # YAML's multi-line message too
    assert not (tmp_path / "out").exists()


def test_a_budget_mo_asha_coverage_uses_up_exits_2_naming_budget_trials(tmp_path, capsys):
    spec = tmp_path / "job.yaml"
    spec.write_text("name: small\ndataset: {builtin: synthetic, rows: 300}\n"
                    "tasks: [{name: t1, label: y1}, {name: t2, label: y2}]\n"
                    "scheduler: {name: mo_asha}\nbudget: {trials: 12}\n")
    assert main(["search", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    _assert_one_line_error(err, "budget.trials", "use at least")
    assert not (tmp_path / "out").exists()


def test_submit_with_bad_yaml_exits_2_before_any_request(tmp_path, capsys):
    spec = tmp_path / "job.yaml"
    spec.write_text("name: [unclosed\n")
    # no server runs at this URL: the spec is refused before anything is sent
    assert main(["submit", str(spec), "--url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("automtl submit: error: spec: ") and "not valid YAML" in err
    assert "Traceback" not in err
    assert main(["submit", str(tmp_path / "missing.yaml"), "--url", "http://127.0.0.1:9"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_submit_checks_the_spec_before_uploading_its_data(tmp_path, capsys):
    """New-user pass item 9: a typo'd spec uploaded its data, then got 422. No server runs at
    this URL, so any upload would fail with a connection error instead of the spec's."""
    (tmp_path / "clicks.csv").write_text("y1,y2,x\n0,1,0.5\n1,0,0.2\n")
    spec = tmp_path / "job.yaml"
    spec.write_text("name: typo\ndataset: {path: clicks.csv}\n"
                    "tasks: [{name: y1}, {name: y2}]\nbudget: {trials: 2, epoch: 2}\n"
                    "search_space: {topology: {choose: {mmoee: {}}}}\n")
    assert main(["submit", str(spec), "--url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "checked here before the data is uploaded" in err
    assert "budget.epoch: unknown field; did you mean 'epochs'?" in err
    assert "search_space.topology.choose.mmoee: unknown topology 'mmoee'" in err  # all at once
    assert "uploaded clicks" not in err and "as dataset" not in err
    assert "connect" not in err.lower()


def test_submit_runs_the_data_checks_before_uploading(tmp_path, capsys):
    """The new user's binary `buy` label held 0/1/2: submit uploaded the file, then the server
    refused the job. The checks `automtl spec validate --data` runs come first now (no server
    runs at this URL: an upload would fail with a connection error instead)."""
    rows = "".join(f"{i % 7 / 7},{i % 2},{i % 3}\n" for i in range(60))
    (tmp_path / "three.csv").write_text("x,click,buy\n" + rows)
    spec = tmp_path / "job.yaml"
    spec.write_text("name: three\ndataset: {path: three.csv}\n"
                    "tasks: [{name: ctr, label: click, type: binary},"
                    " {name: cvr, label: buy, type: binary}]\nbudget: {trials: 2}\n")
    assert main(["submit", str(spec), "--url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "checked here before the data is uploaded" in err
    assert "buy" in err and "2" in err
    assert "as dataset" not in err and "connect" not in err.lower()


def test_report_needs_a_job_or_a_search_dir(tmp_path, capsys):
    assert main(["report", "--search-dir", str(tmp_path)]) == 2
    assert "--search-dir" in capsys.readouterr().err and not (tmp_path / "report.html").exists()
    assert main(["report"]) == 2
    assert "give a job id" in capsys.readouterr().err


def test_bugs_keep_their_traceback():
    def broken(args: object) -> int:
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        run_command(broken, object())


def test_a_reader_that_closes_the_pipe_early_ends_the_command_quietly():
    """``automtl space show default --all | head -1``: the closed pipe is not a traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "automtl.cli", "space", "show", "default",
                             "--all"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the interpreter has started: its first write meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_version_and_help():
    done = subprocess.run([sys.executable, "-m", "automtl.cli", "--version"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.startswith("automtl ") and done.stdout.split()[1][0].isdigit()
    parser = build_parser()
    search = parser._subparsers._group_actions[0].choices["search"]  # noqa: SLF001
    text = search.format_help()
    assert "``" not in text
    assert "(default: automtl-runs)" in text  # --out's default is shown


def _options_with_defaults(parser: argparse.ArgumentParser, name: str):  # type: ignore[no-untyped-def]
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub_name, sub in action.choices.items():
                yield from _options_with_defaults(sub, f"{name} {sub_name}")
        elif action.option_strings and action.default not in (None, False, argparse.SUPPRESS) \
                and action.help != argparse.SUPPRESS:
            yield name, parser, action


def test_every_option_with_a_default_shows_it_in_help():
    """report --format and status --interval had no help text, so argparse printed no
    default for them: every option of every command now shows its own."""
    found = list(_options_with_defaults(build_parser(), "automtl"))
    assert {(name, a.option_strings[-1]) for name, _, a in found} >= {
        ("automtl report", "--format"), ("automtl status", "--interval")}
    for name, parser, action in found:
        assert action.help, (name, action.option_strings)  # argparse prints no line without
        shown = parser._get_formatter()._expand_help(action)  # noqa: SLF001 - the printed text
        assert "(default: " in shown and str(action.default) in shown.split("(default: ")[1], \
            (name, action.option_strings, shown)
    status = next(p for n, p, _ in found if n == "automtl status")
    assert "(default: 5.0)" in " ".join(status.format_help().split())


def _outcome(number: int) -> SimpleNamespace:
    return SimpleNamespace(
        number=number, state="COMPLETE", values={"ctr": 0.71, "cvr": 0.65}, error=None,
        candidate={"architecture": {"topology": "mmoe", "num_shared_experts": 4},
                   "weighting": {"name": "gradnorm"}, "train": {"lr": 0.003}})


def _progress(finished: int, pruned: int = 0, failed: int = 0) -> SimpleNamespace:
    # the fields of automtl.search.callbacks.Progress the bar reads
    return SimpleNamespace(finished=finished + pruned + failed, counted=finished + pruned,
                           pruned=pruned, failed=failed, running=1, front_size=finished,
                           elapsed_s=10.0 * (finished + pruned))


def test_the_progress_bar_shows_count_eta_and_each_trial():
    stream = io.StringIO()
    progress = SearchProgress(["ctr", "cvr"], 4, stream=stream, disable=False)
    for number in range(2):
        progress.on_trial_complete(_outcome(number))
        progress.on_progress(_progress(number + 1))
    progress.close()
    text = stream.getvalue()
    assert "2/4" in text and "%|" in text  # the bar and its count
    assert "trial    1 complete    mmoe/gradnorm experts=4 lr=0.003 | ctr=0.71 cvr=0.65" in text


def test_without_a_terminal_each_trial_line_carries_count_and_eta():
    stream = io.StringIO()
    progress = SearchProgress(["ctr", "cvr"], 4, stream=stream, disable=True)
    progress.on_trial_complete(_outcome(0))
    progress.on_progress(_progress(1))
    line = stream.getvalue().strip()
    assert line.startswith("[1/4] trial    0 complete    mmoe/gradnorm")  # /trials' name
    assert line.endswith("00:10 elapsed, ETA 00:30")  # 10 s per trial, 3 to go


def test_the_bar_counts_complete_and_pruned_trials_not_failed_ones():
    stream = io.StringIO()
    progress = SearchProgress(["ctr", "cvr"], 4, stream=stream, disable=True)
    progress.on_trial_complete(_outcome(0))
    progress.on_progress(_progress(1, pruned=1, failed=2))
    line = stream.getvalue().strip()
    assert line.startswith("[2/4] trial    0") and "pruned 1, failed 2" in line


def test_a_bad_domain_column_exits_2_naming_the_field(tmp_path, capsys):
    """domains.column must be categorical-like with few values, each one listed; all is
    checked before any trial."""
    spec = tmp_path / "job.yaml"
    table = _table(tmp_path / "t.csv")
    out = tmp_path / "out"
    for domains, needles in (("{column: x1, values: ['0', '1']}", ("domains.values", "['2']",
                                                                   "not listed")),
                             ("{column: x0, values: ['0']}", ("domains.column",
                                                              "60 distinct values"))):
        spec.write_text(SPEC.format(path=table, label="y1") + f"domains: {domains}\n")
        assert main(["search", str(spec), "--out", str(out)]) == 2
        _assert_one_line_error(capsys.readouterr().err, *needles)
        assert not out.exists()
    spec.write_text(SPEC.format(path=table, label="y1")
                    + "domains: {column: x0, values: ['0', 'home page']}\n")
    assert main(["search", str(spec), "--out", str(out)]) == 2
    _assert_one_line_error(capsys.readouterr().err, "domains.values")
def test_the_service_commands_are_plugins_found_through_entry_points():
    """The library names only its own command modules; the service's come from the
    automtl.commands entry points (pyproject.toml), so `automtl` stays one command."""
    from importlib.metadata import entry_points

    from automtl.cli import COMMAND_MODULES, PLUGIN_GROUP, command_modules

    assert all(name.startswith("automtl.commands.") for name in COMMAND_MODULES)
    installed = {e.name: e.value for e in entry_points(group=PLUGIN_GROUP)}
    assert installed == {"export": "automtl_api.export_command", "db": "automtl_storage.commands",
                         "service": "automtl_api.commands", "demo": "automtl_api.demo"}, \
        "stale install (pyproject.toml's entry points): run bash scripts/bootstrap.sh"
    assert command_modules() == COMMAND_MODULES + list(installed.values())
    choices = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    # the library's own two, and the service's (new service commands may join them)
    assert set(choices) >= {"space", "search", "export", "db", "serve", "worker", "token",
                            "submit", "status", "report", "demo"}
    assert build_parser().epilog is None  # the hint for an install without the plugins


def test_without_the_plugins_only_the_library_commands_exist_and_help_says_why(monkeypatch):
    import automtl.cli

    monkeypatch.setattr(automtl.cli, "command_modules", lambda: automtl.cli.COMMAND_MODULES)
    parser = automtl.cli.build_parser()
    assert set(parser._subparsers._group_actions[0].choices) == {  # noqa: SLF001
        "space", "search", "spec"}
    assert "automtl.commands" in parser.epilog and "bootstrap.sh" in parser.epilog


def test_every_service_command_takes_the_database_flag_db():
    """Issue 21 item 3b: one flag name for the database across the service's commands
    (``db upgrade``/``db current`` keep ``--url`` as an alias); ``--url`` of the client
    commands is the server."""
    parser = build_parser()
    for argv in (["serve"], ["worker"], ["token", "create", "a"], ["token", "revoke", "1"],
                 ["owner", "limits", "a"], ["db", "upgrade"], ["db", "current"],
                 ["export", "--out", "x"]):
        args = parser.parse_args([*argv, "--db", "sqlite:///x.db"])
        assert "sqlite:///x.db" in (getattr(args, "db", None), getattr(args, "url", None)), argv
    assert parser.parse_args(["db", "upgrade", "--url", "sqlite:///y.db"]).url == "sqlite:///y.db"


def test_the_readme_documents_serve_no_worker_and_a_searched_vocabulary_beside_no_preset():
    """Issue 21 item 3d: ``serve --no-worker`` is documented, and the README's searched
    vocabulary example is an inline space that validates (a ``preset:`` beside it is refused
    at ``search_space.vocabulary``, as the README says)."""
    import re

    import yaml

    from automtl.jobspec import JobSpecError, load_job_spec

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert "--no-worker" in readme
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
              if "vocabulary:" in b and "search_space:" in b]
    assert blocks, "no search_space example with a vocabulary section"
    base = {"name": "v", "dataset": {"builtin": "synthetic", "rows": 500, "categorical": 2},
            "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}]}
    import textwrap

    space = yaml.safe_load(textwrap.dedent(blocks[0]))["search_space"]
    assert "preset" not in space and "vocabulary" in space
    load_job_spec({**base, "search_space": space})
    with pytest.raises(JobSpecError) as refused:
        load_job_spec({**base, "search_space": {"preset": "default",
                                                "vocabulary": space["vocabulary"]}})
    assert "search_space.vocabulary" in str(refused.value)
    assert "search_space.vocabulary" in readme


def test_the_status_line_names_pruned_trials_beside_failed_ones():
    """A fresh user saw '4 ended (0 failed)' for a job whose REST answer had 3 pruned trials."""
    from automtl_api.commands import _status_line

    job = {"id": 1, "name": "j", "status": "succeeded", "error": None,
           "progress": {"finished": 4, "pruned": 3, "failed": 0, "budget": 4, "running": 0,
                        "front_size": 1, "hypervolume": 0.5, "elapsed_s": 12.0}}
    assert "trials: 4 ended (1 complete, 3 pruned, 0 failed) of a budget of 4, 0 running" in \
        _status_line(job)
    # the worker's finished count lagging the rows read '0 ended (1 pruned, 0 failed)'
    job["progress"].update(finished=0, pruned=1, interrupted=2)
    assert "trials: 3 ended (0 complete, 1 pruned, 0 failed, 2 interrupted) of a budget" in \
        _status_line(job)


@pytest.mark.parametrize("disable", [False, True])
def test_each_confirmation_run_gets_a_line_after_the_trial_bar(disable):
    """The 3-seed confirmation took 8 of the demo's 10 minutes with no line at all."""
    from automtl.search.callbacks import Stage

    stream = io.StringIO()
    progress = SearchProgress(["ctr", "cvr"], 1, stream=stream, disable=disable)
    progress.on_trial_complete(_outcome(0))
    progress.on_progress(_progress(1))
    progress.on_stage(Stage("preparing"))
    progress.on_stage(Stage("searching"))
    before = stream.getvalue()
    for done in range(3):
        progress.on_stage(Stage("confirming", done, 2, f"trial 0 (mmoe, front) seed {done}/2"
                                if done < 2 else "done"))
    progress.on_stage(Stage("reporting"))
    progress.close()
    # (closing the bar redraws it once above the stage lines)
    lines = [line for line in stream.getvalue()[len(before):].splitlines()
             if line.startswith("[") and "] " in line]
    assert [line.split("] ", 1)[1] for line in lines] == [
        "confirming 0/2: trial 0 (mmoe, front) seed 0/2",
        "confirming 1/2: trial 0 (mmoe, front) seed 1/2", "confirming 2/2: done", "reporting"]
    assert all(line.startswith("[00:00]") for line in lines)  # elapsed since confirming began


def test_the_status_line_names_a_running_jobs_stage():
    from automtl_api.commands import _status_line

    job = {"id": 1, "name": "j", "status": "running", "error": None, "stage": "confirming",
           "stage_detail": "4/15: trial 12 (mmoe, front) seed 2/3",
           "progress": {"finished": 4, "pruned": 3, "failed": 0, "budget": 4, "running": 0,
                        "front_size": 1, "hypervolume": 0.5, "elapsed_s": 12.0}}
    assert _status_line(job).startswith(
        "job 1 'j': running; stage confirming 4/15: trial 12 (mmoe, front) seed 2/3; trials: ")
    assert "; stage" not in _status_line({**job, "status": "succeeded", "stage": None})
    # the 10-20 s while its workers start: 'starting', not a bare '0 running'
    starting = {**job, "stage": "searching", "stage_detail": None,
                "progress": {**job["progress"], "finished": 0, "pruned": 0}}
    assert "of a budget of 4, 0 running (starting: Ray and the first trials); front" in \
        _status_line(starting)
    starting["progress"]["finished"] = 1  # a trial ended: 0 running is just 0 running
    assert ", 0 running; front" in _status_line(starting)


def test_the_status_line_says_why_a_queued_job_waits():
    """The second new-user pass: a `gpus_per_trial: 1` job printed only "queued"; the
    answer's waiting_reason was in the JSON alone."""
    from automtl_api.commands import _status_line

    job = {"id": 2, "name": "g", "status": "queued", "error": None, "stage": None,
           "waiting_reason": "no registered worker can serve this job: it asks 1 GPU per trial",
           "progress": {"finished": 0, "pruned": 0, "failed": 0, "budget": 4, "running": 0,
                        "front_size": 0, "hypervolume": None, "elapsed_s": None}}
    assert _status_line(job).splitlines()[1] == \
        "  waiting: no registered worker can serve this job: it asks 1 GPU per trial"
    assert "waiting" not in _status_line({**job, "waiting_reason": None})


BAD_SPEC_RUN = """
import json, sys
from automtl.cli import main
status = main(["search", sys.argv[1], "--out", sys.argv[2]])
heavy = sorted(m for m in ("torch", "ray", "pandas") if m in sys.modules)
print(json.dumps({"status": status, "heavy": heavy}))
"""


@pytest.mark.parametrize("text", ["name: x\nbogus: 1\n", "name: [unclosed\n"])
def test_search_refuses_a_bad_spec_before_importing_torch_or_ray(tmp_path, text):
    """A bad spec is the first thing ``automtl search`` reports: parsing and validating it
    needs neither torch nor Ray, so a fresh interpreter has imported neither when it exits 2
    (they cost a new user 7-9 s before the one-line error)."""
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    done = subprocess.run([sys.executable, "-c", BAD_SPEC_RUN, str(spec), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"status": 2, "heavy": []}
    assert "automtl search: error:" in done.stderr
    assert not (tmp_path / "out").exists()


def _session_processes(session_id: int) -> list[int]:
    """Processes of a session (Linux /proc): the command and any Ray process it started."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == session_id:  # the 6th field: the session id
                found.append(int(entry.name))
    return found


def _running_trials(database: Path) -> int:
    """RUNNING trials in a study database another process is writing, read-only (0 while it
    or its tables do not exist yet)."""
    import sqlite3

    if not database.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True,
                                                timeout=5)) as connection:
            row = connection.execute(
                "SELECT COUNT(*) FROM trials WHERE state = 'RUNNING'").fetchone()
    except sqlite3.Error:  # no trials table yet, or locked for longer than the timeout
        return 0
    return int(row[0])


@pytest.mark.slow
def test_ctrl_c_stops_a_search_as_a_cancel_and_leaves_no_process(tmp_path):
    """Ctrl-C while two long trials train: both end interrupted (failed in the study, none left
    running), no new trial starts, the outputs are written, the exit status is 130, and no
    process of the command (its local Ray) is left."""
    import os
    import signal
    import time

    import optuna

    spec = tmp_path / "long.yaml"
    spec.write_text(json.dumps({
        "name": "long", "dataset": {"builtin": "synthetic", "rows": 20000},
        "tasks": [{"name": "y1"}, {"name": "y2"}], "sampler": "random",
        "search_space": {"architecture": {"embedding_dim": 4, "expert_units": [16],
                                          "tower_units": [8]},
                         "topology": {"choose": {"mmoe": {"experts": {"int": [2, 3]}}}},
                         "weighting": {"choose": {"equal": {}}},
                         "optimizer": {"name": "adam", "lr": 0.01, "batch_size": 256,
                                       "early_stopping_patience": 0}},
        "budget": {"trials": 6, "concurrency": 2, "epochs": 500}, "confirm": {"seeds": 0}}))
    out = tmp_path / "out"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    command = subprocess.Popen(
        [sys.executable, "-m", "automtl.cli", "search", str(spec), "--out", str(out),
         "--num-cpus", "2", "--no-progress"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        running = 0
        while time.monotonic() < deadline and command.poll() is None:
            # read-only SQL, not Optuna: loading the study while the command still creates
            # Optuna's tables raced with it (UNIQUE alembic_version, "table already exists")
            running = _running_trials(out / "automtl.db")
            if running == 2:
                break
            time.sleep(0.5)
        assert running == 2, "the two trials never ran"
        time.sleep(8)  # the trials' processes reach their training loops
        command.send_signal(signal.SIGINT)
        output, _ = command.communicate(timeout=300)
    finally:
        if command.poll() is None:
            os.killpg(command.pid, signal.SIGKILL)
            command.wait()
    text = output.decode(errors="replace")
    assert command.returncode == 130, text
    assert "SIGINT: stopping the search" in text, text
    # the two trials the stop interrupted are not failures (new-user pass item 13), in words
    # ("stopped by cancelled" was not), shown INTERRUPTED not FAIL, and a rerun resumes them
    assert "0 failed, 2 interrupted; stopped because it was cancelled (Ctrl-C" in text, text
    states = re.findall(r"trial +\d+ (\w+) ", text)  # each trial line's state
    assert states == ["interrupted", "interrupted"], text
    assert "to resume: run the same command again" in text, text
    table = text[text.index("per topology"):]
    header = table.splitlines()[1].split()
    row = table.splitlines()[3].split()
    assert header[:6] == ["topology", "trials", "complete", "pruned", "failed", "interrupted"]
    assert row[:6] == ["mmoe", "2", "0", "0", "0", "2"], table
    study = optuna.load_study(study_name="automtl-long",
                              storage=f"sqlite:///{out / 'automtl.db'}")
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL] * 2  # no third started
    assert (out / "front.json").exists() and (out / "trials.csv").exists()
    deadline = time.monotonic() + 30  # Ray's processes exit with the command's shutdown
    while _session_processes(command.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _session_processes(command.pid) == []


HOLD_LOCK = """
import sys, time
from automtl.commands.folder_lock import lock_output_folder
with lock_output_folder(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_search_on_the_same_out_folder_exits_2_naming_it_and_the_holder(tmp_path,
                                                                                 capsys):
    """Two `automtl search --out run/` at once both ran (budget [28/20], the confirmation
    twice): the second now stops at once, naming the folder and the process that holds it,
    and the folder is free again when that process ends (however it ends)."""
    from automtl.commands.folder_lock import lock_output_folder

    spec = tmp_path / "job.yaml"
    spec.write_text(SPEC.format(path=_table(tmp_path / "data.csv"), label="y1"))
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        # the same folder by another spelling
        assert main(["search", str(spec), "--out", str(tmp_path / "." / "run") + "/"]) == 2
        err = capsys.readouterr().err
        _assert_one_line_error(err, str(out.resolve()), "in use by another automtl search",
                               f"pid {holder.pid}", "--out")
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    with lock_output_folder(out):  # released by the killed process's end
        pass


def test_missing_feature_values_are_noted_by_validate_and_submit(tmp_path, capsys):
    """NaN in a feature column passed silently (it is mean-imputed with an indicator): now a
    note names the column and the count, in spec validate --data and before submit uploads."""
    rows = "".join(f"{'' if i % 10 == 0 else i / 7},{i % 3},{i % 2},{(i // 2) % 2}\n"
                   for i in range(200))
    (tmp_path / "nan.csv").write_text("price,city,click,buy\n" + rows)
    spec = tmp_path / "job.yaml"
    spec.write_text(f"name: nan\ndataset: {{path: {tmp_path / 'nan.csv'}}}\n"
                    "tasks: [{name: click}, {name: buy}]\nbudget: {trials: 2}\n")
    note = ("note: feature column 'price' has 20 missing value(s): filled with the train mean, "
            "plus a 0/1 feature 'price__missing' that marks them")
    assert main(["spec", "validate", str(spec), "--data"]) == 0
    out = capsys.readouterr().out
    assert f"  {note}" in out.splitlines()
    assert "'city'" not in out  # a column without missing values gets no note
    # submit says it before the upload (no server here: the upload then fails to connect)
    main(["submit", str(spec), "--url", "http://127.0.0.1:9", "--token", "t"])
    err = capsys.readouterr().err
    assert note in err.splitlines()


def test_spec_validate_checks_a_job_spec_without_running_it(tmp_path, capsys):
    """New-user pass item 16: no command checked a job spec without running it."""
    spec = tmp_path / "job.yaml"
    spec.write_text("name: j\ndataset: {builtin: synthetic, rows: 600}\n"
                    "tasks: [{name: y1}, {name: y2}]\nbudget: {trials: 4, epochs: 2}\n"
                    "search_space: {preset: moe}\n")
    assert main(["spec", "validate", str(spec)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{spec}: valid: job 'j', tasks y1 (binary), y2 (binary)")
    assert "budget 4 trials x 2 epochs" in out and "the data was not read" in out
    assert main(["spec", "validate", str(spec), "--data"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{spec}: valid, spec and data: job 'j'")
    assert "data: train 480, valid 60, test 60 rows" in out
    # a data error: no "valid" line before it (the second new-user pass read both)
    table = tmp_path / "t.csv"
    table.write_text("x,y1\n" + "".join(f"{i},{i % 2}\n" for i in range(40)))
    spec.write_text(f"name: j\ndataset: {{path: {table}}}\ntasks: [{{name: y1}}, {{name: y2}}]\n"
                    "budget: {trials: 4, epochs: 2}\n")
    assert main(["spec", "validate", str(spec), "--data"]) == 2
    captured = capsys.readouterr()
    assert "valid" not in captured.out and "y2" in captured.err
    spec.write_text("name: j\ndataset: {builtin: synthetic, rows: 600}\n"
                    "tasks: [{name: y1}, {name: y2}]\nbudget: {trials: 4, epoch: 2}\n"
                    "search_space: {topology: {choose: {mmoee: {}}}}\n")
    assert main(["spec", "validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "budget.epoch: unknown field; did you mean 'epochs'?" in err
    assert "unknown topology 'mmoee' (did you mean 'mmoe'?)" in err


def test_space_validate_says_what_it_did_not_check_and_words_counts(tmp_path, capsys):
    """New-user pass item 16: fixed weights {ctr, cvrr} were "valid" without a word that the
    task names went unchecked; "1 discrete combinations"; `fixed: {weights: {...}}` got
    "expected a number ... got keys" without saying the keys are task names."""
    space = tmp_path / "space.yaml"
    space.write_text("topology: {choose: {mmoe: {experts: 2}}}\n"
                     "weighting: {choose: {fixed: {ctr: 1, cvrr: 2}}}\noptimizer: {lr: 0.01}\n")
    assert main(["space", "validate", str(space)]) == 0
    out = capsys.readouterr().out
    assert "1 discrete combination x up to 0 continuous dimensions" in out
    assert "the fixed weights name the tasks ['ctr', 'cvrr'], which were not checked" in out
    assert main(["space", "validate", str(space), "--tasks", "ctr,cvr"]) == 2
    assert "unknown task 'cvrr'" in capsys.readouterr().err
    space.write_text("topology: {choose: {mmoe: {experts: 2}}}\n"
                     "weighting: {choose: {fixed: {weights: {ctr: 1, cvr: 2}}}}\n")
    assert main(["space", "validate", str(space)]) == 2
    err = capsys.readouterr().err
    assert "weighting.choose.fixed.weights: the keys of fixed are task names" in err
    assert "write fixed: {ctr: 1, cvr: 2}" in err
