"""Server-side batching: grouping, and every failure mode failing the whole batch without hangs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from runtime_harness import read_lines

pytestmark = pytest.mark.timeout(120)


def call(server, payload, n=None) -> httpx.Response:
    return httpx.post(server.url + "/t", json=payload, params={"n": n} if n is not None else None, timeout=30)


def together(server, payloads) -> list[httpx.Response]:
    with ThreadPoolExecutor(len(payloads)) as pool:
        futures = [pool.submit(call, server, p, i) for i, p in enumerate(payloads)]
        return [f.result() for f in futures]


def test_requests_within_the_interval_share_a_batch(start, tmp_path):
    log = tmp_path / "batches.log"
    # An interval no loaded machine spreads 8 requests over: each batch closes full, never by its timer.
    server = start("batched.py", {"config": {"log": str(log)},
                                  "server_side_batching": {"max_batch_size": 4, "batch_interval": "20s"}})
    responses = together(server, [{"i": i} for i in range(8)])
    assert all(r.status_code == 200 for r in responses)
    for i, r in enumerate(responses):
        assert r.json()["item"] == {"i": i} and r.json()["q"] == str(i)  # results go back to their callers
    assert [int(x) for x in read_lines(log)] == [4, 4]
    assert "mlserve_batch_size_count" in server.client.get("/metrics").text


def test_a_lone_request_does_not_wait_for_a_full_batch(start, tmp_path):
    log = tmp_path / "batches.log"
    server = start("batched.py", {"config": {"log": str(log)},
                                  "server_side_batching": {"max_batch_size": 64, "batch_interval": "100ms"}})
    r = call(server, "alone")
    assert r.status_code == 200 and r.json()["batch_size"] == 1


@pytest.fixture
def pairs(start, tmp_path):
    """Batches of exactly two: the batch closes when the second request arrives."""
    log = tmp_path / "batches.log"
    server = start("batched.py", {"config": {"log": str(log)}, "request_timeout": 2,
                                  "server_side_batching": {"max_batch_size": 2, "batch_interval": "20s"}})
    return server, log


def test_exception_fails_everyone_in_the_batch(pairs):
    server, log = pairs
    responses = together(server, ["fine", "boom"])
    assert [r.status_code for r in responses] == [500, 500]
    ids = [r.headers["x-request-id"] for r in responses]
    assert all("the traceback is in the API's logs" in r.json()["error"] for r in responses)
    assert "the batch exploded" not in responses[0].text
    err = server.stderr_text()
    assert "RuntimeError: the batch exploded" in err and all(i in err for i in ids)
    assert call_pair_ok(server)


def call_pair_ok(server) -> bool:
    """The batcher still works after a failed batch (nobody is stuck behind it)."""
    return [r.status_code for r in together(server, ["a", "b"])] == [200, 200]
