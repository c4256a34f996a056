"""Start race: many processes open and migrate the same *new* SQLite file at once (the API and
a worker starting together), as ``automtl serve`` and ``automtl worker`` do at start-up.

Prints how many of ``--starts`` processes failed (issue 20 item 7: 9 of 80 failed with
"database is locked" from ``PRAGMA journal_mode=WAL``). ``--source DIR`` runs another checkout's
code (e.g. the main branch) for a before/after figure. Each round uses a fresh file; all
processes are released together by a start file.

    python -m benchmarks.start_race --starts 80 --rounds 1
    python -m benchmarks.start_race --quick
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.service_common import child_env, source_prelude

CHILD = """
import os, sys, time
from pathlib import Path
go, url = Path(sys.argv[1]), sys.argv[2]
from sqlalchemy import text
from automtl_storage import Database, upgrade
(go.parent / f"ready-{os.getpid()}").touch()
while not go.exists():
    time.sleep(0.005)
try:
    upgrade(url)
    with Database(url) as db, db.session() as s:
        s.execute(text("SELECT count(*) FROM automtl_jobs")).scalar()
except Exception as exc:
    print(type(exc).__name__, str(exc).splitlines()[0][:200], file=sys.stderr)
    sys.exit(1)
"""


def one_round(starts: int, source: Path | None, workdir: Path) -> list[str]:
    """Start ``starts`` processes on one new SQLite file; their error lines (empty: none)."""
    url = f"sqlite:///{workdir / 'race.db'}"
    go = workdir / "go"
    code = source_prelude(source) + CHILD
    processes = [subprocess.Popen([sys.executable, "-c", code, str(go), url],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  env=child_env(), text=True) for _ in range(starts)]
    deadline = time.monotonic() + 600.0  # every process has done its imports: then all go
    while len(list(workdir.glob("ready-*"))) < starts and time.monotonic() < deadline and \
            all(p.poll() is None for p in processes):
        time.sleep(0.2)
    go.touch()
    errors = []
    for process in processes:
        try:
            _, err = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
            err = "timed out"
        if process.returncode != 0:
            errors.append(err.strip().splitlines()[-1] if err.strip() else "exit "
                          f"{process.returncode}")
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=80, help="processes per round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--source", type=Path, default=None,
                        help="run another checkout's code (default: this one)")
    parser.add_argument("--quick", action="store_true", help="6 processes, one round")
    args = parser.parse_args(argv)
    starts, rounds = (6, 1) if args.quick else (max(2, args.starts), max(1, args.rounds))
    failures: list[str] = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="automtl-race-") as tmp:
            failures += one_round(starts, args.source, Path(tmp))
    kinds: dict[str, int] = {}
    for line in failures:
        kinds[line] = kinds.get(line, 0) + 1
    print(f"start race: {len(failures)} of {starts * rounds} starts failed "
          f"({rounds} round(s) of {starts}; code: {args.source or 'this checkout'})")
    for line, count in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {count} x {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
