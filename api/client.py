"""A small httpx client of the REST API, for the ``submit``/``status``/``report`` commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
URL_ENV = "AUTOMTL_URL"
TOKEN_ENV = "AUTOMTL_TOKEN"


class ApiClientError(Exception):
    """A request the server refused: the status code and its ``(path, message)`` problems."""

    def __init__(self, status_code: int, problems: list[tuple[str, str]]) -> None:
        self.status_code = status_code
        self.problems = problems
        lines = [f"{p}: {m}" if p else m for p, m in problems]
        super().__init__(f"HTTP {status_code}: " + "; ".join(lines))


class ApiClient:
    """``/api/v1`` of a running automtl server, authenticated with a bearer token."""

    def __init__(self, url: str | None = None, token: str | None = None,
                 timeout: float = 60.0) -> None:
        self.url = (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        token = token or os.environ.get(TOKEN_ENV)
        if not token:
            raise ApiClientError(401, [("", f"no token: pass --token or set {TOKEN_ENV} "
                                            "(create one with `automtl token create NAME`)")])
        self._http = httpx.Client(base_url=f"{self.url}/api/v1", timeout=timeout,
                                  headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiClientError(0, [("", f"cannot reach {self.url}: {exc}")]) from None
        if response.status_code >= 400:
            raise ApiClientError(response.status_code, _problems(response))
        return response

    def upload_dataset(self, path: Path, name: str | None = None) -> dict[str, Any]:
        with path.open("rb") as handle:
            data = {"name": name} if name else None
            return self._send("POST", "/datasets", files={"file": (path.name, handle)},
                              data=data).json()

    def submit(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self._send("POST", "/jobs", json=spec).json()

    def resume(self, job_id: int) -> dict[str, Any]:
        return self._send("POST", f"/jobs/{job_id}/resume").json()

    def job(self, job_id: int) -> dict[str, Any]:
        return self._send("GET", f"/jobs/{job_id}").json()

    def pareto(self, job_id: int, format: str = "json") -> httpx.Response:
        return self._send("GET", f"/jobs/{job_id}/pareto", params={"format": format})

    def export(self, job_id: int, trial: int | None = None,
               prefer: str | None = None) -> httpx.Response:
        """``GET /jobs/{id}/export``: the bundle zip (its trial in ``X-Automtl-Trial``)."""
        params: dict[str, Any] = {}
        if trial is not None:
            params["trial"] = trial
        if prefer:
            params["prefer"] = prefer
        return self._send("GET", f"/jobs/{job_id}/export", params=params)

    def report(self, job_id: int) -> str:
        """The job's report page with Plotly embedded: a file that opens offline."""
        return self._send("GET", f"/jobs/{job_id}/report", params={"plotly": "inline"}).text


def _problems(response: httpx.Response) -> list[tuple[str, str]]:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return [("", response.text[:500] or response.reason_phrase)]
    if isinstance(detail, list):
        return [(str(d.get("path", "")), str(d.get("msg", d))) if isinstance(d, dict)
                else ("", str(d)) for d in detail]
    return [("", str(detail))]


def stage_phrase(job: dict[str, Any]) -> str:
    """``"; stage confirming 4/15: trial 12 (mmoe, front) seed 2/3"`` from a job's REST answer
    (empty when it reports none: queued or ended), for the status and demo lines."""
    stage = job.get("stage")
    if not stage:
        return ""
    detail = job.get("stage_detail")
    return f"; stage {stage}" + (f" {detail}" if detail else "")


def empty_front_warning(job: dict[str, Any]) -> str | None:
    """The warning ``GET /jobs/{id}`` gives first for a succeeded job whose front is empty
    (it left nothing to export), or ``None``: the status and demo lines print it."""
    if job.get("status") != "succeeded" or job["progress"].get("front_size"):
        return None
    warnings = job.get("warnings") or []
    return str(warnings[0]) if warnings else "the Pareto front is empty: nothing to export"


def running_phrase(job: dict[str, Any]) -> str:
    """``"2 running"``, or ``"0 running (starting: Ray and the first trials)"`` while a
    searching job has no trial running and none ended yet (its workers take 10-20 s to
    start), for the status and demo lines."""
    p = job["progress"]
    running = int(p.get("running") or 0)
    ended = (p.get("finished") or 0) + (p.get("interrupted") or 0)
    if job.get("stage") == "searching" and running == 0 and ended == 0:
        return "0 running (starting: Ray and the first trials)"
    return f"{running} running"


def trials_phrase(progress: dict[str, Any]) -> str:
    """``"N ended (C complete, P pruned, F failed[, I interrupted]) of a budget of B"`` from a
    job's REST ``progress``: the CLI's status line and the demo's progress lines (pruned trials
    count toward the budget; interrupted ones, stopped by a cancel, only when there are some).
    The pruned and interrupted counts come from the trial rows, ``finished`` from the worker's
    last report, which can lag a row behind ("0 ended (1 pruned, ...)"): the ended count is
    never below the kinds it lists."""
    interrupted = progress.get("interrupted") or 0
    pruned, failed = progress.get("pruned", 0), progress["failed"]
    ended = max(progress["finished"], pruned + failed + interrupted)
    stopped = f", {interrupted} interrupted" if interrupted else ""
    return (f"{ended} ended ({ended - pruned - failed - interrupted} complete, {pruned} "
            f"pruned, {failed} failed{stopped}) of a budget of {progress['budget']}")
