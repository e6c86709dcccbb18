"""Backpressure (503 + Retry-After) and session supersede (409)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from runtime_harness import read_lines

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def pool():
    with ThreadPoolExecutor(8) as executor:
        yield executor


def wait_for(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def call(server, payload: dict, session: str | None = None, **kwargs) -> httpx.Response:
    headers = {"x-session-id": session} if session else {}
    return httpx.post(server.url + "/t", json=payload, headers=headers, timeout=30, **kwargs)


def test_superseded_running_sync_call_result_is_discarded(start, pool, tmp_path):
    log = tmp_path / "calls.log"
    server = start("sync_calls.py", {"config": {"log": str(log)}})
    hold = tmp_path / "hold"
    hold.touch()  # the old call runs until the newer one has replaced it
    old = pool.submit(call, server, {"id": "old", "hold": str(hold)}, session="s")
    wait_for(lambda: read_lines(log) == ["start old"])
    new = pool.submit(call, server, {"id": "new"}, session="s")
    assert old.result().status_code == 409
    hold.unlink()
    new = new.result()
    assert new.status_code == 200 and new.json() == {"id": "new"}
    # The abandoned call kept its thread until it finished: the newer one ran after it.
    assert read_lines(log) == ["start old", "done old", "start new", "done new"]


def test_a_request_that_would_wait_past_max_queue_wait_is_503(start, pool, tmp_path):
    """Admission by expected wait: queued work x the measured service time, against the budget."""
    log = tmp_path / "calls.log"
    server = start("sync_calls.py", {"config": {"log": str(log)}, "max_queue_wait": "1s"})
    assert call(server, {"id": "warm", "sleep": 0.6}).status_code == 200  # service time ~0.6 s measured
    hold = tmp_path / "hold"
    hold.touch()  # a runs until the test has been refused, however slowly the test gets there
    running = pool.submit(call, server, {"id": "a", "hold": str(hold)})
    wait_for(lambda: read_lines(log)[-1] == "start a")
    queued = pool.submit(call, server, {"id": "b", "sleep": 0.6})  # waits ~0.6 s: admitted
    wait_for(lambda: 'mlserve_in_flight_requests{api="t"} 2.0' in server.client.get("/metrics").text)
    r = call(server, {"id": "c"})  # would wait ~1.2 s
    hold.unlink()
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    body = r.json()
    assert "max_queue_wait: 1s" in body["error"] and body["hint"]
    assert running.result().status_code == 200 and queued.result().json() == {"id": "b"}
    assert "start c" not in read_lines(log)
