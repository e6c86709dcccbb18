"""Server-Sent Events from generator predictors; disconnects and supersedes stop generation."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from runtime_harness import read_lines

pytestmark = pytest.mark.timeout(120)


def events(text: str) -> list[tuple[str, str]]:
    """[(event name, data)] of an SSE body."""
    out = []
    for block in text.strip("\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        out.append((name, "\n".join(data)))
    return out


def wait_for(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


@pytest.mark.parametrize("cls", ["SyncStream", "AsyncStream"])
def test_generator_streams_events_then_end(start, tmp_path, cls):
    log = tmp_path / "stream.log"
    server = start("streams.py", {"class_name": cls, "config": {"log": str(log)}})
    r = server.client.post("/t", json={"n": 3})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["x-request-id"]
    assert events(r.text) == [("message", "token 0"), ("message", "token 1"), ("message", "token 2"), ("end", "")]
    assert read_lines(log) == ["item 0", "item 1", "item 2", "closed"]
    assert 'mlserve_requests_total{api="t",code="200"} 1.0' in server.client.get("/metrics").text


def test_json_items_are_sent_as_json(start, tmp_path):
    server = start("streams.py", {"class_name": "SyncStream", "config": {"log": str(tmp_path / "l")}})
    r = server.client.post("/t", json={"n": 2, "json": True})
    assert events(r.text) == [("message", '{"token":0}'), ("message", '{"token":1}'), ("end", "")]


@pytest.mark.parametrize("cls", ["SyncStream", "AsyncStream"])
def test_error_mid_stream_is_an_error_event(start, tmp_path, cls):
    log = tmp_path / "stream.log"
    server = start("streams.py", {"class_name": cls, "config": {"log": str(log)}})
    r = server.client.post("/t", json={"n": 5, "fail_at": 2}, headers={"x-request-id": "mid-1"})
    got = events(r.text)
    assert got[:2] == [("message", "token 0"), ("message", "token 1")]
    assert got[2][0] == "error" and '"request_id":"mid-1"' in got[2][1]
    assert "generation broke" not in r.text
    assert "ValueError: generation broke" in server.stderr_text()
    assert read_lines(log)[-1] == "closed"


@pytest.mark.parametrize("cls", ["SyncStream", "AsyncStream"])
def test_client_disconnect_stops_the_generator(start, tmp_path, cls):
    log = tmp_path / "stream.log"
    server = start("streams.py", {"class_name": cls, "config": {"log": str(log)}})
    with httpx.Client(base_url=server.url, timeout=30) as client:
        with client.stream("POST", "/t", json={"n": 1000, "delay": 0.02}) as r:
            received = 0
            for line in r.iter_lines():
                received += line.startswith("data: token")
                if received == 3:
                    break
    wait_for(lambda: "closed" in read_lines(log))
    produced = len(read_lines(log))
    time.sleep(0.3)
    assert len(read_lines(log)) == produced < 1000  # nothing more after closing
    wait_for(lambda: 'mlserve_in_flight_requests{api="t"} 0.0' in server.client.get("/metrics").text)


def test_stream_method_used_when_client_asks_for_sse(start):
    server = start("streams.py", {"class_name": "StreamMethod"})
    r = server.client.post("/t", json={"words": ["a", "b"]})
    assert r.json() == {"text": "a b"}
    r = server.client.post("/t", json={"words": ["a", "b"]}, headers={"accept": "text/event-stream"})
    assert events(r.text) == [("message", "a"), ("message", "b"), ("end", "")]


def test_newer_request_of_the_session_supersedes_a_stream(start, tmp_path):
    log = tmp_path / "stream.log"
    server = start("streams.py", {"class_name": "AsyncStream", "config": {"log": str(log)},
                                  "threads_per_process": 2})
    first: list[str] = []

    def stream_old():
        r = httpx.post(server.url + "/t", json={"n": 1000, "delay": 0.02}, headers={"x-session-id": "s"}, timeout=30)
        first.append(r.text)

    old = threading.Thread(target=stream_old)
    old.start()
    wait_for(lambda: len(read_lines(log)) >= 2)
    r = server.client.post("/t", json={"n": 1}, headers={"x-session-id": "s"})
    assert events(r.text)[-1] == ("end", "")
    old.join(30)
    last = events(first[0])[-1]
    assert last[0] == "error" and "a newer request of this session replaced this stream" in last[1]
    assert read_lines(log).count("closed") == 2
    assert len(read_lines(log)) < 1000
