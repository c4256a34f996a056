"""Load on a running API: submitters and readers at once, errors and latency per route.

Starts ``automtl serve --no-worker`` on a loopback port (SQLite file or a fresh PostgreSQL
schema), creates a token and a dataset, then for ``--seconds`` runs ``--submitters`` threads
posting job specs and ``--readers`` threads cycling through the read routes (job list, job,
trials, pareto, report, datasets). Prints per route: requests, errors (5xx, timeouts,
refused connections), p50 and p99 in seconds. Issue 20 item 1 measured 20 submitters + 50
readers for 30 s: 11 of 84 reads 500 on SQLite, read p99 31 s.

Then, to find where a tail comes from: each route's slowest requests with when they were
sent (``latency@offset`` from the start), the p99 of the requests sent in the first
``--first-seconds`` and after (a diagnosis; the table counts every request), and the API
process's full garbage collections during the load (one API process only).

``--source DIR`` serves another checkout's code (e.g. the main branch) for a before/after
table in the same conditions. Every request is bounded by ``--timeout``; the server is
stopped at the end.

    python -m benchmarks.service_load --db sqlite --submitters 20 --readers 50 --seconds 30
    python -m benchmarks.service_load --db postgresql --source /work/wt/i20-before
    python -m benchmarks.service_load --quick
    python -m benchmarks.service_load --worker   # serve's worker trains the jobs meanwhile
    python -m benchmarks.service_load --api-workers 2   # serve --api-workers 2
"""

from __future__ import annotations

import argparse
import ssl
import statistics
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from benchmarks.service_common import DEFAULT_PG, GC_LOG, running_server


def csv_bytes(rows: int = 400) -> bytes:
    lines = ["x0,x1,x2,y1,y2"]
    for i in range(rows):
        lines.append(f"{i % 7 * 0.1:.1f},{i % 5},{(i * 13) % 11 * 0.01:.2f},{i % 2},"
                     f"{(i // 2) % 2}")
    return ("\n".join(lines) + "\n").encode()


def spec(dataset_id: int, n: int) -> dict[str, Any]:
    return {"name": f"load-{n}", "dataset": {"id": str(dataset_id)},
            "tasks": [{"name": "y1"}, {"name": "y2"}], "sampler": "random",
            "budget": {"trials": 4, "epochs": 2}}


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        #: per route, each request's start (wall-clock seconds, ``time.time()``) and latency
        self.timed: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.kinds: dict[str, int] = defaultdict(int)
        #: the read job's status and trial counts at the end (does a worker train it?)
        self.job_state = ""
        #: when the clients started (``time.time()``): the origin of the offsets printed
        self.started_at = 0.0

    def call(self, client: httpx.Client, route: str, method: str, url: str,
             **kwargs: Any) -> httpx.Response | None:
        started = time.time()
        start = time.perf_counter()
        response: httpx.Response | None = None
        kind = None
        try:
            response = client.request(method, url, **kwargs)
            if response.status_code >= 500:
                kind = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            kind = type(exc).__name__
        elapsed = time.perf_counter() - start
        with self.lock:
            self.latency[route].append(elapsed)
            self.timed[route].append((started, elapsed))
            if kind is not None:
                self.errors[route] += 1
                self.kinds[kind] += 1
        return response


def _quantile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def run_load(base: str, token: str, submitters: int, readers: int, seconds: float,
             timeout: float, processes: int = 1) -> Recorder:
    """Upload a dataset and submit the job the readers read, then run the clients for
    ``seconds``: in this process's threads, or split over ``processes`` forked processes
    (their own interpreters: 70 threads of one process also wait for each other's GIL, e.g.
    while one decodes a 4.7 MB report, which real clients on their own machines do not)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=timeout) as client:
        upload = client.post("/api/v1/datasets", files={"file": ("load.csv", csv_bytes())})
        upload.raise_for_status()
        dataset = upload.json()["id"]
        first = client.post("/api/v1/jobs", json=spec(dataset, 0))
        first.raise_for_status()
        job = first.json()["id"]
    stop_at = time.time() + seconds
    started_at = stop_at - seconds
    if processes <= 1:
        recorder = _drive(base, token, dataset, job, submitters, readers, stop_at, timeout, 0)
    else:
        import multiprocessing

        shares = [(submitters * (i + 1) // processes - submitters * i // processes,
                   readers * (i + 1) // processes - readers * i // processes)
                  for i in range(processes)]
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            parts = pool.starmap(_drive_plain, [
                (base, token, dataset, job, s, r, stop_at, timeout, i)
                for i, (s, r) in enumerate(shares)])
        recorder = Recorder()
        for timed, errors, kinds in parts:
            for route, pairs in timed.items():
                recorder.timed[route] += pairs
                recorder.latency[route] += [latency for _, latency in pairs]
            for route, count in errors.items():
                recorder.errors[route] += count
            for kind, count in kinds.items():
                recorder.kinds[kind] += count
    with httpx.Client(base_url=base, headers=headers, timeout=timeout) as client:
        detail = client.get(f"/api/v1/jobs/{job}").json()
    progress = detail.get("progress") or {}
    recorder.started_at = started_at
    recorder.job_state = (f"read job at the end: {detail.get('status')}, "
                          f"{progress.get('finished')} trials ended, "
                          f"{progress.get('running')} running")
    return recorder


def _drive_plain(*args: Any) -> tuple[dict[str, list[tuple[float, float]]], dict[str, int],
                                      dict[str, int]]:
    recorder = _drive(*args)
    return dict(recorder.timed), dict(recorder.errors), dict(recorder.kinds)


def _drive(base: str, token: str, dataset: int, job: int, submitters: int, readers: int,
           stop_at: float, timeout: float, part: int) -> Recorder:
    """``submitters`` threads posting specs and ``readers`` threads cycling through the read
    routes until the wall-clock time ``stop_at``."""
    headers = {"Authorization": f"Bearer {token}"}
    recorder = Recorder()
    counter = iter(range(part * 10**6 + 1, 10**9))
    # one TLS context for every client (unused on http://): each httpx.Client otherwise builds
    # its own, ~30 ms of CPU that 70 threads spent on the server's two cores in the first
    # seconds of the load, which made the slowest 1% of the reads
    tls = ssl.create_default_context()
    routes = [("GET /jobs", "/api/v1/jobs"), ("GET /jobs/{id}", f"/api/v1/jobs/{job}"),
              ("GET /trials", f"/api/v1/jobs/{job}/trials"),
              ("GET /pareto", f"/api/v1/jobs/{job}/pareto"),
              ("GET /report", f"/api/v1/jobs/{job}/report"),
              ("GET /datasets", "/api/v1/datasets")]

    def submitter() -> None:
        limits = httpx.Limits(max_connections=1)
        with httpx.Client(base_url=base, headers=headers, timeout=timeout,
                          limits=limits, verify=tls) as client:
            while time.time() < stop_at:
                recorder.call(client, "POST /jobs", "POST", "/api/v1/jobs",
                              json=spec(dataset, next(counter)))

    def reader(offset: int) -> None:
        limits = httpx.Limits(max_connections=1)
        with httpx.Client(base_url=base, headers=headers, timeout=timeout,
                          limits=limits, verify=tls) as client:
            i = offset
            while time.time() < stop_at:
                route, url = routes[i % len(routes)]
                recorder.call(client, route, "GET", url)
                i += 1

    threads = [threading.Thread(target=submitter) for _ in range(submitters)]
    threads += [threading.Thread(target=reader, args=(part * 7 + i,)) for i in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return recorder


def table(recorder: Recorder) -> str:
    lines = [f"{'route':<16} {'requests':>8} {'errors':>6} {'p50 s':>8} {'p99 s':>8}"]
    reads: list[float] = []
    read_errors = 0
    for route in sorted(recorder.latency):
        values = recorder.latency[route]
        if route.startswith("GET"):
            reads += values
            read_errors += recorder.errors[route]
        lines.append(f"{route:<16} {len(values):>8} {recorder.errors[route]:>6} "
                     f"{_quantile(values, 0.5):>8.3f} {_quantile(values, 0.99):>8.3f}")
    if reads:
        lines.append(f"{'all reads':<16} {len(reads):>8} {read_errors:>6} "
                     f"{_quantile(reads, 0.5):>8.3f} {_quantile(reads, 0.99):>8.3f}")
    if recorder.kinds:
        lines.append("errors: " + ", ".join(f"{k} x{v}" for k, v in recorder.kinds.items()))
    return "\n".join(lines)


def slowest(recorder: Recorder, count: int = 6) -> str:
    """Per route, its ``count`` slowest requests as ``latency@offset`` (seconds; the offset
    is when the request was sent, from the clients' start): whether a route's tail is its
    first requests (a cold cache, connections being opened) or spread over the run."""
    lines = [f"slowest {count} per route, latency s @ sent at s from the start:"]
    for route in sorted(recorder.timed):
        worst = sorted(recorder.timed[route], key=lambda pair: -pair[1])[:count]
        lines.append(f"  {route:<16} " + " ".join(
            f"{latency:.2f}@{started - recorder.started_at:.1f}" for started, latency in worst))
    return "\n".join(lines)


def by_phase(recorder: Recorder, first_s: float) -> str:
    """The reads' p99 for the requests sent in the first ``first_s`` seconds and for the rest,
    each route apart: for finding where a tail comes from. The figures of the run are the
    table's, which count every request."""
    lines = [f"diagnosis only (the table above counts every request): p99 s of requests sent "
             f"in the first {first_s:g} s | after (n)"]
    for route in sorted(recorder.timed):
        early = [lat for t, lat in recorder.timed[route] if t - recorder.started_at < first_s]
        late = [lat for t, lat in recorder.timed[route] if t - recorder.started_at >= first_s]
        lines.append(f"  {route:<16} "
                     + (f"{_quantile(early, 0.99):.3f} ({len(early)})" if early else "- (0)")
                     + " | "
                     + (f"{_quantile(late, 0.99):.3f} ({len(late)})" if late else "- (0)"))
    return "\n".join(lines)


def gc_pauses(log: str, started_at: float, seconds: float) -> str:
    """The API process's full garbage collections during the load (``GC_LOG``'s lines in its
    log): how many, their total and longest pause, and the longest ones as ``pause@offset``;
    every request waits while one runs."""
    pauses = []
    for line in log.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "bench-gc2":
            start, pause = float(parts[1]) - started_at, float(parts[2])
            if 0 <= start <= seconds:
                pauses.append((pause, start))
    if not pauses:
        return "API full garbage collections during the load: 0"
    worst = sorted(pauses, reverse=True)[:6]
    return (f"API full garbage collections during the load: {len(pauses)}, "
            f"{sum(p for p, _ in pauses):.2f} s in all, longest "
            + " ".join(f"{p:.2f}@{t:.1f}" for p, t in worst))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server (a fresh "
                                                             "schema is made and dropped)")
    parser.add_argument("--submitters", type=int, default=20)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=60.0, help="per request")
    parser.add_argument("--source", type=Path, default=None,
                        help="serve another checkout's code (default: this one)")
    parser.add_argument("--worker", action="store_true",
                        help="serve with its own worker, which trains the submitted jobs on "
                             "the same cores (default: --no-worker, the API alone)")
    parser.add_argument("--client-processes", type=int, default=1,
                        help="split the clients over this many processes (default 1: threads "
                             "of this one, which also wait for each other's GIL)")
    parser.add_argument("--api-workers", type=int, default=1,
                        help="API processes (serve --api-workers; default 1)")
    parser.add_argument("--first-seconds", type=float, default=5.0,
                        help="the diagnosis line's split: p99 of requests sent before and "
                             "after this many seconds (default 5); the table counts all")
    parser.add_argument("--quick", action="store_true", help="2 submitters, 3 readers, 3 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.submitters, args.readers, args.seconds = 2, 3, 3.0
    # one owner submits from every thread: lift the per-owner queue cap (429 past it), which
    # would otherwise be measured instead of the API
    with running_server(args.db, pg_url=args.pg_url, source=args.source, worker=args.worker,
                        api_workers=args.api_workers, capture_log=True,
                        env={"AUTOMTL_MAX_ACTIVE_JOBS": "1000000"},
                        prefix="automtl-load-",
                        prelude=GC_LOG if args.api_workers == 1 else "") as server:
        recorder = run_load(server.base, server.token, args.submitters, args.readers,
                            args.seconds, args.timeout, args.client_processes)
    locked = server.log.count("database is locked")
    pool = server.log.count("QueuePool limit")
    print(f"load: {args.db}, {args.submitters} submitters + {args.readers} readers for "
          f"{args.seconds:g} s; code: {args.source or 'this checkout'}; "
          f"{'with its worker training' if args.worker else 'no worker'}; "
          f"{args.api_workers} API process(es); clients in "
          f"{args.client_processes} process(es)")
    print(table(recorder))
    print(slowest(recorder))
    print(by_phase(recorder, args.first_seconds))
    print(recorder.job_state)
    if args.api_workers == 1:
        print(gc_pauses(server.log, recorder.started_at, args.seconds))
    print(f"server log: {locked} 'database is locked', {pool} 'QueuePool limit'")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
