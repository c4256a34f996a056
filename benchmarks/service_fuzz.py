"""Fuzz every route of the OpenAPI document with schemathesis and count server errors.

Starts ``automtl serve --no-worker`` on a loopback port (SQLite or a fresh PostgreSQL schema),
makes a token, a dataset and a queued job (so ids 1 exist), loads ``/openapi.json`` and runs
``--cases`` generated requests per operation (valid and invalid data by schemathesis and
Hypothesis, with the token). Prints per operation: cases and responses >= 500; exits 0 either
way (a figure, not a test). Issue 20 item 4: 35 server errors on SQLite, 206 on PostgreSQL.

    python -m benchmarks.service_fuzz --db sqlite --cases 200
    python -m benchmarks.service_fuzz --quick
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from benchmarks.service_common import (
    child_env,
    drop_schema,
    free_port,
    postgres_url,
    source_prelude,
)
from benchmarks.service_load import DEFAULT_PG, SERVE, TOKEN, csv_bytes, spec, wait_healthy


def fuzz(base: str, token: str, cases: int) -> tuple[dict[str, int], dict[str, int],
                                                      dict[str, str]]:
    """Cases and server errors per operation, and one example of each failing operation."""
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    counts: dict[str, int] = defaultdict(int)
    errors: dict[str, int] = defaultdict(int)
    examples: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        label = operation.label
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run = _runner(operation.as_strategy(generation_mode=mode), label, headers,
                          max(1, cases // 2), counts, errors, examples)
            try:
                run()
            except Exception as exc:  # noqa: BLE001 - e.g. a strategy that cannot generate
                examples.setdefault(label, f"generation stopped: {type(exc).__name__}: "
                                           f"{str(exc)[:120]}")
    return counts, errors, examples


def _runner(strategy: Any, label: str, headers: dict[str, str], examples_per_mode: int,
            counts: dict[str, int], errors: dict[str, int], examples: dict[str, str]) -> Any:
    """A Hypothesis test that sends each generated case and counts 5xx answers."""
    from hypothesis import HealthCheck, Phase, given, settings

    @settings(max_examples=examples_per_mode, deadline=None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(case: Any) -> None:
        counts[label] += 1
        try:
            response = case.call(headers=headers, timeout=60)
        except Exception as exc:  # noqa: BLE001 - a dropped connection is a failure too
            errors[label] += 1
            examples.setdefault(label, f"{type(exc).__name__}: {exc}"[:200])
            return
        if response.status_code >= 500:
            errors[label] += 1
            examples.setdefault(label, f"{response.status_code} "
                                       f"{case.as_curl_command()[:300]}")

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--cases", type=int, default=200, help="per operation")
    parser.add_argument("--source", type=Path, default=None,
                        help="serve another checkout's code (default: this one)")
    parser.add_argument("--quick", action="store_true", help="4 cases per operation")
    args = parser.parse_args(argv)
    cases = 4 if args.quick else max(2, args.cases)
    with tempfile.TemporaryDirectory(prefix="automtl-fuzz-") as tmp:
        schema_name = None
        if args.db == "postgresql":
            url, schema_name = postgres_url(args.pg_url)
        else:
            url = f"sqlite:///{Path(tmp) / 'automtl.db'}"
        port = free_port()
        env = child_env(AUTOMTL_ENV="development", AUTOMTL_DATABASE_URL=url,
                        AUTOMTL_DATA_DIR=str(Path(tmp) / "data"), AUTOMTL_PORT=str(port),
                        AUTOMTL_HOST="127.0.0.1")
        prelude = source_prelude(args.source)
        server = subprocess.Popen([sys.executable, "-c", prelude + SERVE], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base, server)
            token = subprocess.run([sys.executable, "-c", prelude + TOKEN, url, "fuzz"],
                                   env=env, check=True, capture_output=True,
                                   text=True).stdout.strip().splitlines()[-1]
            with httpx.Client(base_url=base, timeout=60,
                              headers={"Authorization": f"Bearer {token}"}) as client:
                dataset = client.post("/api/v1/datasets",
                                      files={"file": ("f.csv", csv_bytes())}).json()["id"]
                client.post("/api/v1/jobs", json=spec(dataset, 0)).raise_for_status()
            counts, errors, examples = fuzz(base, token, cases)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            if schema_name is not None:
                drop_schema(args.pg_url, schema_name)
    print(f"fuzz: {args.db}, up to {cases} cases per operation; code: "
          f"{args.source or 'this checkout'}")
    print(f"{'operation':<44} {'cases':>6} {'5xx':>5}")
    for label in sorted(counts):
        print(f"{label:<44} {counts[label]:>6} {errors[label]:>5}")
    print(f"{'total':<44} {sum(counts.values()):>6} {sum(errors.values()):>5}")
    for label, example in sorted(examples.items()):
        print(f"  {label}: {example}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
