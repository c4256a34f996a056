"""The suite's guard on torch's intra-op thread count (``tests/conftest.py``): a test that
changes it and leaves it fails at teardown and the count is put back, so no later test runs
with its setting; the ``one_torch_thread`` fixture sets one thread and restores the count."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

INNER = '''
import pytest
import torch

torch.set_num_threads(2)


def test_leaves_one_thread():
    torch.set_num_threads(1)


@pytest.mark.usefixtures("one_torch_thread")
def test_uses_the_fixture():
    assert torch.get_num_threads() == 1


def test_runs_after_them():
    assert torch.get_num_threads() == 2
'''


def test_a_test_leaving_torch_threads_changed_fails_and_the_count_is_restored(
        tmp_path: Path) -> None:
    shutil.copy(Path(__file__).parent / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                          "test_inner.py"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert ("test_inner.py::test_leaves_one_thread left torch.set_num_threads at 1 (was 2)"
            in out), out
    assert "PASSED test_inner.py::test_uses_the_fixture" in out, out
    assert "PASSED test_inner.py::test_runs_after_them" in out, out
    assert "ERROR at teardown of test_leaves_one_thread" in out, out
