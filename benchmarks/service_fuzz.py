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
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from benchmarks.service_common import DEFAULT_PG, running_server
from benchmarks.service_load import csv_bytes, spec


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
    with running_server(args.db, pg_url=args.pg_url, source=args.source, owner="fuzz",
                        prefix="automtl-fuzz-") as server:
        with httpx.Client(base_url=server.base, timeout=60,
                          headers={"Authorization": f"Bearer {server.token}"}) as client:
            dataset = client.post("/api/v1/datasets",
                                  files={"file": ("f.csv", csv_bytes())}).json()["id"]
            client.post("/api/v1/jobs", json=spec(dataset, 0)).raise_for_status()
        counts, errors, examples = fuzz(server.base, server.token, cases)
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
