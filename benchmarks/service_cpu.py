"""The API's own CPU per request, per route: what bounds its throughput under load.

Starts ``automtl serve --no-worker`` (SQLite file or a fresh PostgreSQL schema), creates a
token, a dataset and a job, then for each route sends ``--requests`` requests one after
another (after ``--warmup`` untimed ones) and reads the server process's user+system CPU
from ``/proc/<pid>/stat`` before and after: milliseconds of API CPU per request. CPU time,
unlike latency, hardly depends on what else runs on the machine, so the figures compare
across runs on a loaded one; the database server's own CPU is not counted.

``--source DIR`` serves another checkout's code (a "before" beside this checkout's "after").
Linux only (``/proc``).

    python -m benchmarks.service_cpu --db postgresql --requests 300
    python -m benchmarks.service_cpu --db sqlite --source /tmp/before
    python -m benchmarks.service_cpu --quick
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import httpx

from benchmarks.service_common import DEFAULT_PG, running_server
from benchmarks.service_load import csv_bytes, spec


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) and of its live
    descendants (the API processes of ``serve --api-workers N``), from /proc."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:  # it ended meanwhile
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def measure(base: str, token: str, pid: int, requests: int,
            warmup: int) -> list[tuple[str, float, float]]:
    """Per route: (route, API CPU ms per request, client wall ms per request)."""
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    out = []
    with httpx.Client(base_url=base, headers=headers, timeout=60.0) as client:
        upload = client.post("/api/v1/datasets", files={"file": ("cpu.csv", csv_bytes())})
        upload.raise_for_status()
        dataset = upload.json()["id"]
        first = client.post("/api/v1/jobs", json=spec(dataset, 0))
        first.raise_for_status()
        job = first.json()["id"]
        counter = iter(range(1, 10**9))
        routes: list[tuple[str, str, str]] = [
            ("GET /jobs", "GET", "/api/v1/jobs"),
            ("GET /jobs/{id}", "GET", f"/api/v1/jobs/{job}"),
            ("GET /trials", "GET", f"/api/v1/jobs/{job}/trials"),
            ("GET /pareto", "GET", f"/api/v1/jobs/{job}/pareto"),
            ("GET /report", "GET", f"/api/v1/jobs/{job}/report"),
            ("GET /datasets", "GET", "/api/v1/datasets"),
            ("GET /healthz", "GET", "/healthz"),
            ("POST /jobs", "POST", "/api/v1/jobs"),
        ]
        for route, method, url in routes:
            def send(method: str = method, url: str = url) -> None:
                kwargs = {"json": spec(dataset, next(counter))} if method == "POST" else {}
                response = client.request(method, url, **kwargs)
                if response.status_code >= 400:
                    raise RuntimeError(f"{method} {url}: HTTP {response.status_code}")

            for _ in range(warmup):
                send()
            cpu0, wall0 = process_cpu_s(pid), time.perf_counter()
            for _ in range(requests):
                send()
            cpu1, wall1 = process_cpu_s(pid), time.perf_counter()
            out.append((route, 1000 * (cpu1 - cpu0) / requests,
                        1000 * (wall1 - wall0) / requests))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--requests", type=int, default=300, help="timed, per route")
    parser.add_argument("--warmup", type=int, default=20, help="untimed, per route")
    parser.add_argument("--source", type=Path, default=None,
                        help="serve another checkout's code (default: this one)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra AUTOMTL_* setting of the server (repeatable)")
    parser.add_argument("--api-workers", type=int, default=1,
                        help="API processes (serve --api-workers; their CPU is summed)")
    parser.add_argument("--quick", action="store_true", help="20 requests, 3 warm-up")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.warmup = 20, 3
    extra = dict(item.split("=", 1) for item in args.env)
    with running_server(args.db, pg_url=args.pg_url, source=args.source,
                        api_workers=args.api_workers,
                        env={"AUTOMTL_MAX_ACTIVE_JOBS": "1000000", **extra},
                        prefix="automtl-cpu-") as server:
        rows = measure(server.base, server.token, server.process.pid, args.requests,
                       args.warmup)
    print(f"API CPU per request: {args.db}, {args.requests} sequential requests per route "
          f"after {args.warmup} warm-up; code: {args.source or 'this checkout'}"
          + (f"; {' '.join(args.env)}" if args.env else ""))
    print(f"{'route':<16} {'API CPU ms':>10} {'wall ms':>8}")
    for route, cpu_ms, wall_ms in rows:
        print(f"{route:<16} {cpu_ms:>10.2f} {wall_ms:>8.2f}")
    reads = [cpu for route, cpu, _ in rows if route.startswith("GET /") and "healthz" not in route]
    print(f"{'mean of reads':<16} {sum(reads) / len(reads):>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
