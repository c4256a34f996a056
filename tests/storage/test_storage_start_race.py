"""Start-up race (issue 20 item 7): processes opening and migrating the same new SQLite file
at once (the API and a worker starting together) all succeed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from automtl_storage import Database, current_revision, head_revision

CHILD = """
import sys, time
from pathlib import Path
from sqlalchemy import text
from automtl_storage import Database, upgrade
go, url = Path(sys.argv[1]), sys.argv[2]
while not go.exists():
    time.sleep(0.005)
upgrade(url)
with Database(url) as db, db.session() as s:
    s.execute(text("SELECT count(*) FROM automtl_jobs")).scalar()
"""


def test_processes_starting_together_on_a_new_sqlite_file_all_succeed(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    go = tmp_path / "go"
    processes = [subprocess.Popen([sys.executable, "-c", CHILD, str(go), url],
                                  stderr=subprocess.PIPE, text=True) for _ in range(6)]
    time.sleep(3.0)  # the imports; then every process opens the file at the same moment
    go.touch()
    errors = []
    for process in processes:
        _, err = process.communicate(timeout=300)
        if process.returncode != 0:
            errors.append(err.strip().splitlines()[-1])
    assert errors == []
    assert current_revision(url) == head_revision()
    with Database(url) as database, database.session() as session:
        mode = session.execute(text("PRAGMA journal_mode")).scalar()
    assert str(mode).lower() == "wal"
