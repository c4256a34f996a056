"""``automtl demo``: the main job end to end on one machine, with nothing configured.

A client of the service, as a user would drive it: it applies the migrations to a SQLite file,
starts ``automtl serve`` (the API and one worker with a local Ray) on a free port of 127.0.0.1,
creates a token, uploads the built-in synthetic dataset (two binary tasks of low correlation,
the MMoE paper's recipe) through ``POST /api/v1/datasets``, submits a search job with the
``default`` preset and polls its progress, then prints the Pareto front, writes the HTML report,
exports the chosen front point's training bundle, runs its ``train.py`` for one epoch and stops
the service (no server or Ray process is left). Everything goes to ``--out``, which a new run
empties first (only if an earlier demo wrote it).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TERMINAL = ("succeeded", "failed", "cancelled")
STEPS = 9


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="the main job end to end: server, upload, search, front, report, "
                     "export, train", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("demo-output"),
                        help="output directory (default: ./demo-output; emptied first when an "
                             "earlier demo wrote it)")
    parser.add_argument("--trials", type=int, default=60, help="trials to finish (default: 60)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per trial (default: 5)")
    parser.add_argument("--scheduler", choices=["mo_asha", "none"], default="mo_asha",
                        help="stop dominated trials early at epochs 1 and 3 (mo_asha: MO-ASHA, "
                             "eta 3) or train every trial to the end (none)")
    parser.add_argument("--confirm-seeds", type=int, default=3,
                        help="after the search, re-train the front, the best single-task and "
                             "each topology's best with this many seeds and report the MTL "
                             "gain on the test split with intervals (default: 3; 0: off)")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="trials at a time (default: 2)")
    parser.add_argument("--rows", type=int, default=20000,
                        help="rows of the synthetic dataset (default: 20000)")
    parser.add_argument("--correlation", type=float, default=0.2,
                        help="label correlation of the synthetic tasks (default: 0.2)")
    parser.add_argument("--preset", default="default", help="search-space preset")
    parser.add_argument("--census", type=Path, default=None, metavar="PATH",
                        help="use census-income (a directory with census-income.data and "
                             ".test) instead of the synthetic data; about 15 times the rows, "
                             "so fewer --trials keep the run short")
    parser.add_argument("--port", type=int, default=None,
                        help="server port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--keep-serving", action="store_true",
                        help="leave the server running at the end until Ctrl-C")
    parser.set_defaults(handler=_run)


@dataclass
class Demo:
    """State shared by the steps of one run."""

    args: argparse.Namespace
    out: Path
    started: float
    artefacts: list[tuple[Path, str]]

    def step(self, number: int, text: str) -> None:
        print(f"\n[{number}/{STEPS}] {text}", flush=True)

    def note(self, text: str) -> None:
        print(f"      {text}", flush=True)

    def keep(self, path: Path, what: str) -> Path:
        self.artefacts.append((path, what))
        return path

    def elapsed(self) -> str:
        return _duration(time.monotonic() - self.started)


def _run(args: argparse.Namespace) -> int:
    from automtl_api.demo_service import DemoError

    for name in ("trials", "epochs", "concurrency", "rows"):
        if getattr(args, name) < 1:
            print(f"--{name} must be >= 1", file=sys.stderr)
            return 2
    if args.confirm_seeds < 0 or args.confirm_seeds == 1:
        print("--confirm-seeds must be 0 (off) or >= 2 (an interval needs two seeds)",
              file=sys.stderr)
        return 2
    if args.census is not None and not args.census.exists():
        print(f"--census {args.census}: no such file or directory", file=sys.stderr)
        return 2
    # a SIGTERM to the demo stops its server too (the finally below runs)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    # Ctrl-C ends --keep-serving even where the demo was started with SIGINT ignored (a
    # background job of a non-interactive shell inherits SIG_IGN, and Python then
    # installs no KeyboardInterrupt handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run_demo(args)
    except DemoError as exc:
        print(f"\nautomtl demo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nautomtl demo: interrupted (the service was stopped)", file=sys.stderr)
        return 130


def run_demo(args: argparse.Namespace) -> int:
    """Every step in order; the service is stopped whatever happens."""
    from automtl_api.demo_service import (
        ServiceProcess,
        free_port,
        prepare_output_dir,
        service_environment,
    )

    started = time.monotonic()
    out = args.out.resolve()
    cleaned = prepare_output_dir(out)
    demo = Demo(args, out, started, [])
    print(f"automtl demo: the search service on this machine (SQLite, local Ray), output in "
          f"{out}" + (" (the previous demo's output there was removed)" if cleaned else ""))

    database = out / "automtl.db"
    url = f"sqlite:///{database}"
    settings = {"AUTOMTL_ENV": "development", "AUTOMTL_DATABASE_URL": url,
                "AUTOMTL_DATA_DIR": str(out / "service")}
    if args.census is not None:
        settings["AUTOMTL_CENSUS_DIR"] = str(args.census.resolve())
    env = service_environment(settings)

    demo.step(1, "database: apply the migrations")
    _check_output(["db", "upgrade", "--url", url], env, "applying the migrations")
    demo.note(f"{url} is at the latest schema")
    demo.keep(database, "SQLite database: jobs, trials, tokens and the Optuna study")

    port = args.port or free_port()
    service = ServiceProcess(env, "127.0.0.1", port, demo.keep(out / "server.log",
                                                                "server and worker log"))
    demo.step(2, f"server: automtl serve on {service.url} (API + one worker, local Ray)")
    try:
        service.start()
        demo.note(f"ready in {service.wait_healthy():.1f}s (pid {service.pid}; log "
                  f"{_rel(service.log_path, out)})")
        demo.keep(out / "service", "uploads and trial weights (AUTOMTL_DATA_DIR)")
        job_id = _search_and_export(demo, service.url, env, url)
        if args.keep_serving:
            print(f"\nThe server keeps running at {service.url} (OpenAPI: {service.url}/docs)."
                  f" Try, in another shell:\n  export AUTOMTL_URL={service.url} "
                  f"AUTOMTL_TOKEN=$(cat {out / 'token.txt'})\n  automtl status {job_id}; "
                  f"automtl report {job_id} --format csv\nCtrl-C stops it.", flush=True)
            try:
                service.wait()
            except KeyboardInterrupt:
                print()
    finally:
        print(f"\nshutdown: stopping the server (pid {service.pid}) and its worker", flush=True)
        stopping = time.monotonic()
        killed = service.stop()
    took = _duration(time.monotonic() - stopping)
    if killed:
        print(f"shutdown: after {took} these processes had not exited and were killed: "
              + ", ".join(killed))
    else:
        print(f"shutdown: clean in {took}; no server, worker or Ray process is left")
    _print_artefacts(demo)
    print(f"\nwall time {demo.elapsed()}")
    return 0


def _search_and_export(demo: Demo, base_url: str, env: dict[str, str], db_url: str) -> int:
    """Steps 3 to 9 against the running server; the job's id."""
    from automtl_api.client import empty_front_warning
    from automtl_api.demo_service import DemoError

    args, out = demo.args, demo.out
    demo.step(3, "token: automtl token create demo")
    token = _check_output(["token", "create", "demo", "--db", db_url], env,
                          "creating the token").strip()
    demo.keep(out / "token.txt", "the API token (Authorization: Bearer ...)").write_text(
        token + "\n")
    demo.note(f"a token for owner 'demo' ({token[:6]}..., saved to token.txt)")

    with _client(base_url, token) as client:
        demo.step(4, "dataset")
        dataset, tasks, data_file = _dataset(demo, client)
        spec = _job_spec(args, dataset, tasks)
        demo.step(5, f"search job: preset {args.preset!r}, {args.trials} trials, "
                     f"{args.concurrency} at a time, {args.epochs} epoch(s) each")
        job = _call(client.submit, spec, what="submitting the job")
        demo.note(f"POST /api/v1/jobs -> job {job['id']} {job['status']}")
        job = _follow(demo, client, job["id"])
        if job["status"] != "succeeded":
            raise DemoError(f"job {job['id']} ended {job['status']}: "
                            f"{job.get('error') or 'no error recorded'}")
        empty = empty_front_warning(job)
        if empty:
            raise DemoError(f"job {job['id']} succeeded, but {empty}")

        demo.step(6, "Pareto front: GET /api/v1/jobs/{id}/pareto")
        front = _call(client.pareto, job["id"], what="reading the front").json()
        _print_front(front, tasks)
        demo.keep(out / "pareto.json", "the front as JSON").write_text(
            _call(client.pareto, job["id"], what="reading the front").text)
        demo.keep(out / "front.csv", "the front as CSV").write_text(
            _call(client.pareto, job["id"], "csv", what="reading the front as CSV").text)

        demo.step(7, "report: GET /api/v1/jobs/{id}/report?plotly=inline (opens offline)")
        report = demo.keep(out / "report.html", "the HTML report (front plot, trials, gains)")
        report.write_text(_call(client.report, job["id"], what="reading the report"))
        demo.note(f"{_rel(report, out)} ({report.stat().st_size // 1024} KiB)")

        demo.step(8, "export: GET /api/v1/jobs/{id}/export (the front point with the best "
                     "equally weighted objectives)")
        bundle = _export(demo, client, job["id"])

    demo.step(9, f"train: python train.py --data {_rel(data_file, out)} --epochs 1")
    trained = demo.keep(out / "bundle-trained", "train.py's weights.pt, config.yaml, "
                                                "metrics.json")
    _stream([sys.executable, "train.py", "--data", str(data_file), "--epochs", "1",
             "--out", str(trained)], bundle, env, "running the bundle's train.py")
    return int(job["id"])


def _client(base_url: str, token: str) -> Any:
    from automtl_api.client import ApiClient

    return ApiClient(base_url, token, timeout=300.0)  # its export() downloads the bundle


def _call(method: Callable[..., Any], *args: Any, what: str) -> Any:
    from automtl_api.client import ApiClientError
    from automtl_api.demo_service import DemoError

    try:
        return method(*args)
    except ApiClientError as exc:
        raise DemoError(f"{what}: {exc}") from None


def _dataset(demo: Demo, client: Any) -> tuple[dict[str, Any], list[dict[str, Any]], Path]:
    """Upload the synthetic CSV (or point at census-income); the dataset spec, the tasks and
    the file train.py will read."""
    args, out = demo.args, demo.out
    data_dir = out / "data"
    data_dir.mkdir()
    if args.census is not None:
        from automtl.data.census import CENSUS_TASKS, read_census_income

        frame = read_census_income(args.census).drop(columns=["source"])
        path = demo.keep(data_dir / "census-income.csv", "census-income as one CSV (train.py)")
        frame.to_csv(path, index=False)
        demo.note(f"census-income from {args.census} (AUTOMTL_CENSUS_DIR of the server; the "
                  f"MMoE paper's split), {len(frame)} rows, tasks "
                  f"{', '.join(t.name for t in CENSUS_TASKS)}")
        tasks = [{"name": t.name, "type": t.type, "metric": "auc"} for t in CENSUS_TASKS]
        return {"builtin": "census-income"}, tasks, path

    from automtl.data import make_synthetic

    frame = make_synthetic(rows=args.rows, correlation=args.correlation, binary=True, seed=0)
    path = demo.keep(data_dir / "synthetic.csv", "the generated dataset (uploaded)")
    frame.to_csv(path, index=False)
    measured = float(frame["y1"].corr(frame["y2"]))
    demo.note(f"synthetic (Ma et al. KDD 2018): {len(frame)} rows, "
              f"{frame.shape[1] - 2} features, binary tasks y1 and y2 with weight correlation "
              f"{args.correlation} (label correlation {measured:.2f}) -> {_rel(path, out)}")
    uploaded = _call(client.upload_dataset, path, what="uploading the dataset")
    demo.note(f"POST /api/v1/datasets -> dataset {uploaded['id']} ({uploaded['rows']} rows, "
              f"{len(uploaded['columns'])} columns detected)")
    tasks = [{"name": name, "type": "binary", "metric": "auc"} for name in ("y1", "y2")]
    return {"id": str(uploaded["id"])}, tasks, path


def _job_spec(args: argparse.Namespace, dataset: dict[str, Any],
              tasks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": "demo", "dataset": dataset, "tasks": tasks,
            "search_space": {"preset": args.preset},
            "budget": {"trials": args.trials, "concurrency": args.concurrency,
                       "epochs": args.epochs},
            "scheduler": {"name": args.scheduler, "grace_epochs": 1, "reduction_factor": 3},
            "confirm": {"seeds": args.confirm_seeds},
            "resources": {"cpus_per_trial": 1}, "seed": 0}


def _follow(demo: Demo, client: Any, job_id: int, interval: float = 2.0,
            every: float = 10.0) -> dict[str, Any]:
    """Poll ``GET /jobs/{id}`` until the job ends; print a line when the status or the stage
    changes (so one per confirmation run: ``stage confirming 4/15: trial 12 ...``), and when
    the trial progress has changed at most once per ``every`` seconds."""
    from automtl_api.client import running_phrase, stage_phrase, trials_phrase

    last_line, last_state, last_time = None, None, 0.0
    while True:
        job = _call(client.job, job_id, what="reading the job")
        p = job["progress"]
        hv = f"{p['hypervolume']:.4f}" if p.get("hypervolume") is not None else "-"
        state = (job["status"], job.get("stage"), job.get("stage_detail"))
        line = (f"{job['status']:<9} trials: {trials_phrase(p)}, {running_phrase(job)}; "
                f"front {p['front_size']}, hypervolume {hv}{stage_phrase(job)}")
        now = time.monotonic()
        if state != last_state or (line != last_line and now - last_time >= every):
            demo.note(f"[{demo.elapsed():>6}] {line}")
            last_line, last_state, last_time = line, state, now
        if job["status"] in TERMINAL:
            return job
        time.sleep(interval)


def _print_front(front: dict[str, Any], tasks: list[dict[str, Any]]) -> None:
    """The front as a table: architecture, validation objectives, test metric of each task."""
    from automtl.commands.search import format_table, gain_summary
    from automtl.report.pareto import (
        below_chance_warnings,
        front_rows,
        reference_point_text,
        zero_hypervolume_note,
    )

    metric = {t["name"]: t["metric"] for t in tasks}
    names = [o["name"] for o in front["objectives"]]
    headers = {name: f"valid {name} {metric.get(name, '')}".strip() for name in names}
    headers.update({f"test_{t}_{m}": f"test {t} {m}" for t, m in metric.items()})
    rows = [{headers.get(k, k): v for k, v in row.items()} for row in front_rows(front)]
    columns = ["trial", "topology", "weighting", *headers.values(), "num_params"]
    print(f"      {front['n_trials']} complete trial{'' if front['n_trials'] == 1 else 's'}, "
          f"{front.get('n_failed', 0)} failed; "
          f"{len(rows)} on the front, {front['n_dominated']} dominated; hypervolume "
          f"{'-' if front['hypervolume'] is None else format(front['hypervolume'], '.4f')} "
          f"(reference point "
          f"{reference_point_text(front['reference_point'])})")
    for line in format_table(rows, columns).splitlines():
        print(f"      {line}")
    zero = zero_hypervolume_note(front)
    if zero:
        print(f"      {zero}")
    for warning in below_chance_warnings(front):
        print(f"      warning: {warning}")
    if front.get("mtl_gain") is not None:  # the table automtl search prints too
        print()
        for line in gain_summary(front["mtl_gain"]).splitlines():
            print(f"      {line}")


def _export(demo: Demo, client: Any, job_id: int) -> Path:
    """Download and unzip the bundle; its directory."""
    out = demo.out
    response = _call(client.export, job_id, what="exporting the bundle")
    archive = demo.keep(out / "bundle.zip", "the exported training bundle")
    archive.write_bytes(response.content)
    with zipfile.ZipFile(archive) as bundle_zip:
        names = bundle_zip.namelist()
        bundle_zip.extractall(out / "bundle")
    top = sorted({name.split("/")[0] for name in names})
    bundle = demo.keep(out / "bundle" / top[0], "the bundle unzipped") if len(top) == 1 \
        else demo.keep(out / "bundle", "the bundle unzipped")
    demo.note(f"trial {response.headers.get('X-Automtl-Trial', '?')} -> {_rel(archive, out)}, "
              f"unzipped to {_rel(bundle, out)}/:")
    demo.note("  " + "  ".join(sorted(p.name for p in bundle.iterdir())))
    return bundle


def _check_output(args: list[str], env: dict[str, str], what: str) -> str:
    from automtl_api.demo_service import DemoError, automtl_command

    result = subprocess.run(automtl_command(*args), env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise DemoError(f"{what} (automtl {' '.join(args[:2])}) exited {result.returncode}:\n"
                        f"{result.stderr.strip()}")
    return result.stdout


def _stream(command: list[str], cwd: Path, env: dict[str, str], what: str) -> None:
    """Run ``command``, printing its output indented as it comes."""
    from automtl_api.demo_service import DemoError

    with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(f"      | {line.rstrip()}", flush=True)
    if process.returncode != 0:
        raise DemoError(f"{what} exited {process.returncode}")


def _print_artefacts(demo: Demo) -> None:
    print(f"\nartefacts in {demo.out}:")
    width = max((len(_rel(p, demo.out)) for p, _ in demo.artefacts), default=0)
    for path, what in demo.artefacts:
        if path.exists():
            name = _rel(path, demo.out) + ("/" if path.is_dir() else "")
            print(f"  {name:<{width + 1}}  {what}")


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"
