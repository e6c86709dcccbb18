"""HTTP edges through a real runtime and raw sockets: every answer in the error shape."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from runtime_harness import Runtime, serve_fixture

from mlserve.runtime.payload import READ_TIMEOUT
from mlserve.runtime.protocol import MAX_HEAD_BYTES

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    server = serve_fixture(tmp_path_factory.mktemp("edges"), "echo.py", {"request_timeout": 5}, {})
    server.wait()
    yield server
    server.stop()


def assert_error_shape(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error", "request_id", "hint"}, body
    assert body["request_id"] == r.headers["x-request-id"]
    return body


def connect(server: Runtime) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=READ_TIMEOUT * 3)


def read_response(sock: socket.socket) -> httpx.Response:
    """Read one response (the server closes the connection after error answers)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    length = int({k.lower(): v for k, v in headers.items()}["content-length"])
    while len(body) < length:
        body += sock.recv(65536)
    return httpx.Response(int(lines[0].split()[1]), headers=headers, content=body)


def raw(server: Runtime, data: bytes) -> httpx.Response:
    with connect(server) as sock:
        sock.sendall(data)
        return read_response(sock)


def test_malformed_http_is_400_json(echo):
    for request in (b"GARBAGE\r\n\r\n", b"POST /t HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                    b"GET / HTTP/1.1\r\nBad Header Name: x\r\n\r\n"):
        body = assert_error_shape(raw(echo, request), 400)
        assert body["error"] == "the request is not valid HTTP/1.1"


def test_huge_query_string_is_414_json(echo):
    r = raw(echo, b"POST /t?q=" + b"a" * 1024 * 1024 + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert "URL is over" in assert_error_shape(r, 414)["error"]


def test_huge_header_is_431_json(echo):
    r = echo.client.post("/t", json={}, headers={"x-big": "a" * (MAX_HEAD_BYTES + 1)})
    assert "request head is over" in assert_error_shape(r, 431)["error"]
    assert echo.client.post("/t", json={}, headers={"x-ok": "a" * 8000}).status_code == 200


def test_a_large_body_sent_with_its_head_in_one_piece_is_not_a_large_head(echo):
    # Head and a 100 KB body in one write usually reach the server as one chunk, which completes the
    # request: those bytes are body, never the head of a next request.
    body = json.dumps({"text": "word " * 20_000}).encode()
    for _ in range(5):
        r = raw(echo, b"POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        assert r.status_code == 200, r.text


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_unfinished_20mb_headers_are_cut_off_and_do_not_grow_memory(echo):
    before = _rss_kb(echo.proc.pid)

    def send_unfinished_head() -> httpx.Response:
        with connect(echo) as sock:
            sock.sendall(b"POST /t HTTP/1.1\r\nHost: x\r\nX-Big: ")
            try:
                for _ in range(20 * 16):  # 20 MB in 64 KiB pieces, never finished
                    sock.sendall(b"a" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass  # cut off by the server: its answer is already in our receive buffer
            return read_response(sock)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: send_unfinished_head(), range(10)))
    for r in answers:
        assert_error_shape(r, 431)
    grown_mb = (_rss_kb(echo.proc.pid) - before) / 1024
    assert grown_mb < 32, f"the runtime grew by {grown_mb:.0f} MB"


def test_stalled_request_head_is_408_json(echo):
    with connect(echo) as sock:
        sock.sendall(b"POST /t HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        r = read_response(sock)
    assert "did not arrive within" in assert_error_shape(r, 408)["error"]
    assert time.monotonic() - started >= READ_TIMEOUT * 0.9
    with connect(echo) as sock:  # a connection that sends nothing at all
        assert_error_shape(read_response(sock), 408)


def test_stalled_body_is_408_json(echo):
    with connect(echo) as sock:
        sock.sendall(b"POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"a\": ")
        r = read_response(sock)
    assert "no part of the request body arrived" in assert_error_shape(r, 408)["error"]


def test_stalled_bodies_hold_no_admission_slot(start):
    server = start("echo.py", {"threads_per_process": 4}, {"autoscaling": {"max_replica_concurrency": 4}})
    stalled = [connect(server) for _ in range(4)]
    try:
        for sock in stalled:
            sock.sendall(b"POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n{\"stalled\": ")
        started = time.monotonic()
        for i in range(20):
            r = server.client.post("/t", json={"i": i})
            assert r.status_code == 200, r.text
        if time.monotonic() - started < READ_TIMEOUT / 2:
            for sock in stalled:  # still open and waiting: nothing has answered them yet
                sock.setblocking(False)
                with pytest.raises(BlockingIOError):
                    sock.recv(1)
    finally:
        for sock in stalled:
            sock.close()


def test_keep_alive_connection_serves_several_requests(echo):
    with connect(echo) as sock:
        for i in range(3):
            body = json.dumps({"i": i}).encode()
            sock.sendall(b"POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            r = read_response(sock)
            assert r.status_code == 200 and r.json()["payload"] == {"i": i}
