"""How long a running job's cancel takes: from the cancel request to the job's status
``cancelled``, and to the worker's Ray processes being gone.

One ``automtl worker`` process (SQLite, a local Ray of ``--num-cpus`` CPUs) runs each of
``--runs`` jobs in turn: a search of ``--concurrency`` trials at once that train far longer
than the run (``--rows`` synthetic rows, ``--epochs`` epochs). Once every slot has had a
running trial for ``--settle`` seconds, the script asks the cancel the way
``POST /api/v1/jobs/{id}/cancel`` does (:meth:`JobRepository.request_cancel`) and polls the
job row every 20 ms until it is ``cancelled``; then it waits for the worker to have no child
process (its Ray shut down). Each run also checks that no trial row is left ``running`` and
that the trial rows agree with the study's states.

``--cli`` also measures ``automtl search`` with the same spec: Ctrl-C (SIGINT) once both
trials have run ``--settle`` seconds, then the seconds until no trial of the study is left
running (``trials_stopped_s``) and until the command exited (``exited_s``: its Ray shut down
and its outputs written).

``--worker-python`` runs the worker (and the CLI) with another interpreter (e.g. the main
checkout's ``.venv/bin/python``) to measure "before" beside "after"; all rows land in one table.

    python -m benchmarks.cancel_latency [--runs 5] [--worker-python /work/main/.venv/bin/python]
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import base_parser, machine_line, write_table

POLL_S = 0.02


def parse_args(argv: list[str] | None = None) -> Any:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds every slot has had a running trial before the cancel")
    parser.add_argument("--worker-python", action="append", default=[],
                        help="also measure a worker run by this interpreter (repeatable); "
                             "this checkout's is always measured")
    parser.add_argument("--keep-log", type=Path, default=None,
                        help="copy each worker's log into this directory")
    parser.add_argument("--cli", action="store_true", help="also measure automtl search")
    parser.add_argument("--cli-only", action="store_true",
                        help="measure automtl search only (no worker)")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 1
    return args


def job_spec(rows: int, epochs: int, concurrency: int) -> dict[str, Any]:
    return {
        "name": "cancel", "dataset": {"builtin": "synthetic", "rows": rows},
        "tasks": [{"name": "y1"}, {"name": "y2"}], "sampler": "random",
        "search_space": {
            "architecture": {"embedding_dim": 4, "expert_units": [32],
                             "tower_units": [16]},
            "topology": {"choose": {"mmoe": {"experts": {"int": [2, 4]}}}},
            "weighting": {"choose": {"equal": {}}},
            "optimizer": {"name": "adam", "lr": 0.01, "batch_size": 256, "epochs": epochs,
                          "early_stopping_patience": 0}},
        "budget": {"trials": 50, "concurrency": concurrency, "epochs": epochs},
        "confirm": {"seeds": 0},
    }


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux ``/proc``)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            for task in Path(f"/proc/{parent}/task").iterdir():
                children = [int(c) for c in (task / "children").read_text().split()]
                found += children
                todo += children
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def measure(python: str, args: Any, label: str) -> list[dict[str, Any]]:
    from automtl_api.settings import Settings
    from automtl_storage import (
        Database,
        JobRepository,
        JobStatus,
        OwnerRepository,
        TrialRepository,
        optuna_storage,
        upgrade,
    )

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="automtl-cancel-") as scratch:
        root = Path(scratch)
        settings = Settings(env="test", data_dir=root / "data",
                            database_url=f"sqlite:///{root / 'automtl.db'}",
                            artifact_dir=root / "artifacts", ray_num_cpus=args.num_cpus,
                            poll_interval_s=0.2)
        url = settings.resolved_database_url
        upgrade(url)
        env = {**os.environ, **settings.environment(), "TUNE_DISABLE_SIGINT_HANDLER": "1",
               "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
        log = (root / "worker.log").open("wb")
        worker = subprocess.Popen([python, "-m", "automtl.cli", "worker"], env=env,
                                  stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True, cwd=root)
        database = Database(url)
        try:
            for run in range(args.runs):
                with database.session() as session:
                    owner = OwnerRepository(session).get_or_create("bench")
                    job_id = JobRepository(session).create(
                        owner.id, "cancel", job_spec(args.rows, args.epochs,
                                                     args.concurrency)).id
                since: float | None = None
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    with database.session() as session:
                        running = TrialRepository(session).list_for_job(job_id,
                                                                        state="running")
                    if len(running) >= args.concurrency:
                        since = since or time.monotonic()
                        if time.monotonic() - since >= args.settle:
                            break
                    else:
                        since = None
                    with database.session() as session:
                        job = JobRepository(session).refresh(job_id)
                    if worker.poll() is not None or job.status.is_terminal:
                        raise RuntimeError(f"job {job.status.value} ({job.error}); worker log:\n"
                                           + _tail(root / "worker.log"))
                    time.sleep(0.1)
                else:
                    raise RuntimeError("the trials never all ran; worker log:\n"
                                       + _tail(root / "worker.log"))
                asked = time.monotonic()
                with database.session() as session:
                    JobRepository(session).request_cancel(job_id)
                status = None
                while time.monotonic() - asked < 120:
                    with database.session() as session:
                        status = JobRepository(session).refresh(job_id).status
                    if status.is_terminal:
                        break
                    time.sleep(POLL_S)
                cancelled = time.monotonic() - asked
                while descendants(worker.pid) and time.monotonic() - asked < 120:
                    time.sleep(POLL_S)
                ray_down = time.monotonic() - asked
                rows.append({"worker": label, "run": run + 1, "status": status.value,
                             "cancelled_s": round(cancelled, 2),
                             "ray_down_s": round(ray_down, 2),
                             **_agreement(database, url, job_id, optuna_storage,
                                          TrialRepository)})
                print(rows[-1], flush=True)
                assert status == JobStatus.CANCELLED, status
        finally:
            database.dispose()
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
            log.close()
            if args.keep_log is not None:
                args.keep_log.mkdir(parents=True, exist_ok=True)
                target = args.keep_log / f"worker-{len(list(args.keep_log.iterdir()))}.log"
                target.write_bytes((root / "worker.log").read_bytes())
    return rows


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _agreement(database: Any, url: str, job_id: int, optuna_storage: Any,
               trials_repository: Any) -> dict[str, Any]:
    """Trial rows left running, and whether every row's state matches the study's trial."""
    import optuna

    from automtl_storage import JobRepository

    with database.session() as session:
        states = {t.number: t.state.value
                  for t in trials_repository(session).list_for_job(job_id)}
        study_name = JobRepository(session).get(job_id).study_name
    study = optuna.load_study(study_name=study_name, storage=optuna_storage(url))
    from automtl.trial_record import ATTR_INTERRUPTED, ROW_STATE, stored_attrs

    def expected(trial: Any) -> str | None:
        """The row a study trial should have: none for a WAITING one (never started),
        ``interrupted`` for a FAIL a stop interrupted, else its state's row name."""
        if trial.state.name == "WAITING":
            return None
        if trial.state.name == "FAIL" and stored_attrs(trial).get(ATTR_INTERRUPTED):
            return "interrupted"
        return ROW_STATE.get(trial.state.name, trial.state.name.lower())

    trials = study.get_trials(deepcopy=False)
    agree = all(states.get(t.number) == expected(t) for t in trials) and \
        set(states) <= {t.number for t in trials}
    return {"rows_running": sum(s == "running" for s in states.values()),
            "rows_agree_with_study": agree}


def _running_trials(database: Path) -> int:
    """RUNNING trials in the study database, read-only (an Optuna storage opened here would
    create its tables, racing the command that is creating them)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            return int(db.execute("SELECT count(*) FROM trials WHERE state = 'RUNNING'"
                                  ).fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0


def measure_cli(python: str, args: Any, label: str) -> list[dict[str, Any]]:
    import json

    rows: list[dict[str, Any]] = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="automtl-cancel-cli-") as scratch:
            root = Path(scratch)
            spec = root / "spec.json"
            spec.write_text(json.dumps(job_spec(args.rows, args.epochs, args.concurrency)))
            out = root / "out"
            env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
            log = (root / "cli.log").open("wb")
            command = subprocess.Popen(
                [python, "-m", "automtl.cli", "search", str(spec), "--out", str(out),
                 "--num-cpus", str(args.num_cpus), "--no-progress"], env=env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, cwd=root)
            running = functools.partial(_running_trials, out / "automtl.db")
            try:
                since: float | None = None
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline and command.poll() is None:
                    if (out / "automtl.db").exists() and running() >= args.concurrency:
                        since = since or time.monotonic()
                        if time.monotonic() - since >= args.settle:
                            break
                    time.sleep(0.1)
                else:
                    raise RuntimeError("the trials never all ran; log:\n"
                                       + _tail(root / "cli.log"))
                asked = time.monotonic()
                command.send_signal(signal.SIGINT)
                stopped = None
                while command.poll() is None and time.monotonic() - asked < 120:
                    if stopped is None and running() == 0:
                        stopped = time.monotonic() - asked
                    time.sleep(POLL_S)
                exited = time.monotonic() - asked
                command.wait(timeout=120)
            finally:
                if command.poll() is None:
                    os.killpg(command.pid, signal.SIGKILL)
                    command.wait()
                log.close()
            rows.append({"worker": f"cli: {label}", "run": run + 1,
                         "status": f"exit {command.returncode}",
                         "cancelled_s": round(stopped if stopped is not None else exited, 2),
                         "ray_down_s": round(exited, 2), "rows_running": running(),
                         "rows_agree_with_study": None})
            print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    args = parse_args(argv)
    rows: list[dict[str, Any]] = []
    if not args.cli_only:
        rows += measure(sys.executable, args, "this checkout")
        for python in args.worker_python:
            rows += measure(python, args, python)
    if args.cli or args.cli_only:
        rows += measure_cli(sys.executable, args, "this checkout")
        for python in args.worker_python:
            rows += measure_cli(python, args, python)
    summary = []
    for label in dict.fromkeys(r["worker"] for r in rows):
        own = [r for r in rows if r["worker"] == label]
        summary.append({"worker": label, "runs": len(own),
                        "median_cancelled_s": statistics.median(r["cancelled_s"] for r in own),
                        "max_cancelled_s": max(r["cancelled_s"] for r in own),
                        "median_ray_down_s": statistics.median(r["ray_down_s"] for r in own)})
    notes = [f"{args.concurrency} running trials, {args.num_cpus} Ray CPUs, SQLite; cancel "
             "asked after every slot had a running trial for "
             f"{args.settle:g} s; load (1 min) at the end: {os.getloadavg()[0]:.2f}"]
    suffix = "_cli" if args.cli_only else ""
    write_table(rows, args.out, f"cancel_latency_runs{suffix}", "Cancel latency, each run",
                machine_line(), notes)
    write_table(summary, args.out, f"cancel_latency{suffix}",
                "Cancel latency (request -> cancelled)", machine_line(), notes)
    return {f"cancel_latency_runs{suffix}": rows, f"cancel_latency{suffix}": summary}


if __name__ == "__main__":
    main()
