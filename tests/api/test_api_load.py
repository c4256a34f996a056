"""The API under load (issue 20 item 1): writes take turns instead of failing, a busy database
answers 503 with Retry-After and writes nothing, the embedded worker runs at a lower CPU
priority than the API."""

from __future__ import annotations

import threading

from api_support import tiny_spec


def test_a_write_that_gets_no_turn_answers_503_and_writes_nothing(client, alice):
    spec = tiny_spec({"builtin": "synthetic", "rows": 500})
    database = client.app.state.database
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with database.write_session():
            inside.set()
            leave.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(10)
        database.write_timeout_s = 0.2
        busy = client.post("/api/v1/jobs", headers=alice, json=spec)
        assert busy.status_code == 503, busy.text
        assert busy.headers["retry-after"] == "5"
        assert busy.json()["detail"][0]["type"] == "database_busy"
    finally:
        leave.set()
        holder.join(10)
    assert client.get("/api/v1/jobs", headers=alice).json()["total"] == 0
    assert client.post("/api/v1/jobs", headers=alice, json=spec).status_code == 202
    assert client.get("/api/v1/jobs", headers=alice).json()["total"] == 1
