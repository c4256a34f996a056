"""The local service of ``automtl demo``: ``automtl serve`` in its own process group, found again
afterwards by an environment marker so that nothing it started (worker, Ray) is left running.

Every process the server starts inherits its environment, Ray's ``raylet``/``gcs_server`` and
workers included (Ray moves them into a process group of their own, so the group alone does not
find them); the marker variable ``AUTOMTL_DEMO_RUN`` tells them apart from other Ray clusters on
the machine. Finding them reads ``/proc`` (Linux); elsewhere only the process group is checked.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

#: set in the server's environment; every process it starts inherits it
MARKER_ENV = "AUTOMTL_DEMO_RUN"
#: written into an output directory the demo owns, so a later run may clean it
OUTPUT_MARKER = ".automtl-demo"


class DemoError(Exception):
    """A step of the demo failed; the message says which and why."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def prepare_output_dir(path: Path) -> bool:
    """Create ``path`` for a fresh run; True when a previous demo's output was removed.

    A directory that holds the demo marker is emptied; a non-empty directory without it is
    refused (the demo never deletes files it did not write).
    """
    path = path.resolve()
    cleaned = False
    if path.exists():
        if not path.is_dir():
            raise DemoError(f"--out {path} exists and is not a directory")
        if any(path.iterdir()):
            if not (path / OUTPUT_MARKER).is_file():
                raise DemoError(f"--out {path} is not empty and was not written by automtl "
                                "demo; give another --out or empty it")
            for child in path.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            cleaned = True
    path.mkdir(parents=True, exist_ok=True)
    (path / OUTPUT_MARKER).write_text("written by `automtl demo`; a new run empties this "
                                      "directory\n")
    return cleaned


def service_environment(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without inherited ``AUTOMTL_*`` settings or ``RAY_ADDRESS``
    (the demo runs on nothing configured), plus ``settings`` and Ray's quiet local defaults."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AUTOMTL_") and k != "RAY_ADDRESS"}
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env.setdefault("RAY_AUTH_MODE", "disabled")
    env.update(settings)
    return env


def automtl_command(*args: str) -> list[str]:
    """``automtl ARGS`` with this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "automtl.cli", *args]


class ServiceProcess:
    """``automtl serve`` (API + one worker) on ``host:port`` in a new session/process group.

    Its output goes to ``log_path``; ``command`` replaces ``automtl serve`` (tests). :meth:`stop`
    asks the server to stop (SIGTERM; it stops its worker, whose Ray shuts down with it), then
    signals the group, then kills what is left that carries the marker.
    """

    def __init__(self, env: Mapping[str, str], host: str, port: int, log_path: Path,
                 command: Sequence[str] | None = None) -> None:
        self.marker = uuid.uuid4().hex
        self.url = f"http://{host}:{port}"
        self.log_path = log_path
        self._env = {**env, MARKER_ENV: self.marker}
        self._command = list(command or automtl_command("serve", "--host", host, "--port",
                                                         str(port)))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(self._command, env=self._env, stdout=log,
                                             stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait_healthy(self, timeout: float = 120.0) -> float:
        """Seconds until ``GET /healthz`` answered ok; DemoError if the server died or never
        answered."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.running():
                raise DemoError(f"the server exited ({self._returncode()}) before answering "
                                f"/healthz\n{self.log_tail()}")
            try:
                response = httpx.get(f"{self.url}/healthz", timeout=2.0)
                if response.status_code == 200 and response.json().get("status") == "ok":
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise DemoError(f"the server did not answer {self.url}/healthz within {timeout:.0f}s"
                        f"\n{self.log_tail()}")

    def wait(self) -> int:
        """Block until the server exits (``--keep-serving``); its exit status."""
        assert self._process is not None
        return self._process.wait()

    def stop(self, grace: float = 60.0, settle: float = 15.0) -> list[str]:
        """Stop the server and everything it started; the processes that had to be killed
        (``pid command``), empty after a clean shutdown."""
        process = self._process
        if process is None:
            return []
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # uvicorn stops, then the worker is stopped
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=min(10.0, grace))
                except subprocess.TimeoutExpired:
                    _signal_group(process.pid, signal.SIGKILL)
                    process.wait()
        leftovers = self.wait_for_leftovers(timeout=settle)
        killed = []
        for pid, command in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(f"{pid} {command}")
            except ProcessLookupError:
                pass
        if _group_alive(process.pid):
            _signal_group(process.pid, signal.SIGKILL)
            killed.append(f"process group {process.pid}")
        return killed

    def wait_for_leftovers(self, timeout: float) -> list[tuple[int, str]]:
        """Processes still carrying this run's marker after up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = marked_processes(self.marker)
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(f"  server.log| {line}" for line in text[-lines:])

    def _returncode(self) -> int | None:
        return self._process.returncode if self._process is not None else None


def marked_processes(marker: str, variable: str = MARKER_ENV) -> list[tuple[int, str]]:
    """``(pid, command line)`` of live processes whose environment has ``variable=marker``
    (Linux ``/proc``; empty where there is no ``/proc``)."""
    proc = Path("/proc")
    needle = f"{variable}={marker}".encode()
    found: list[tuple[int, str]] = []
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            if needle not in environ.split(b"\0"):
                continue
            if (entry / "stat").read_text().split(")")[-1].split()[0] == "Z":
                continue  # a zombie is already dead; its parent just has not reaped it
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        found.append((int(entry.name), command[:400]))  # long enough for a deep venv path
    return found


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
