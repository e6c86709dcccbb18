"""Through a real runtime: body limits (413), request ids, metrics, health, docs and the access log.
What the data plane answers (payload and result types, every error status) is in test_dataplane_unit.py."""

from __future__ import annotations

import re

import httpx
import pytest
from runtime_harness import serve_fixture

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    server = serve_fixture(tmp_path_factory.mktemp("echo"), "echo.py",
                    {"config": {"greeting": "hi"}, "request_timeout": 1, "max_body_bytes": 1000,
                     "threads_per_process": 4}, {})
    server.wait()
    yield server
    server.stop()


def post(server, do="echo", params=None, **kwargs) -> httpx.Response:
    return server.client.post("/t", params={"do": do, **(params or {})}, **kwargs)


def metric(server, name: str, **labels) -> float:
    text = server.client.get("/metrics").text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_body_over_limit_is_413_by_content_length(echo):
    r = post(echo, content=b"x" * 1001, headers={"content-type": "text/plain"})
    assert r.status_code == 413
    assert "at most 1000" in r.json()["error"]
    assert "max_body_bytes" in r.json()["hint"]
    assert post(echo, content=b"x" * 1000, headers={"content-type": "text/plain"}).status_code == 200


def test_chunked_body_over_limit_is_413(echo):
    def chunks():
        for _ in range(20):
            yield b"y" * 100

    r = post(echo, content=chunks(), headers={"content-type": "text/plain"})
    assert "content-length" not in r.request.headers
    assert r.status_code == 413
    assert "max_body_bytes" in r.json()["hint"]
    got = re.search(r"at least (\d+) bytes", r.json()["error"])
    assert got and int(got.group(1)) > 1000


def test_request_id_echoed_or_generated_on_every_response(echo):
    assert echo.client.get("/healthz", headers={"x-request-id": "abc-1"}).headers["x-request-id"] == "abc-1"
    generated = {echo.client.get("/readyz").headers["x-request-id"] for _ in range(3)}
    assert len(generated) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", g) for g in generated)
    assert echo.client.get("/nope").headers["x-request-id"]
    r = post(echo, json={}, headers={"x-request-id": "my-id"})
    assert r.headers["x-request-id"] == "my-id"
    assert '"POST /t" 200' in echo.stdout_line("request_id=my-id")


def test_metrics_move(echo):
    before_ok = metric(echo, "mlserve_requests_total", api="t", code="200")
    before_400 = metric(echo, "mlserve_requests_total", api="t", code="400")
    before_count = metric(echo, "mlserve_request_duration_seconds_count", api="t")
    for _ in range(3):
        assert post(echo, json={}).status_code == 200
    assert post(echo, content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert metric(echo, "mlserve_requests_total", api="t", code="200") == before_ok + 3
    assert metric(echo, "mlserve_requests_total", api="t", code="400") == before_400 + 1
    assert metric(echo, "mlserve_request_duration_seconds_count", api="t") == before_count + 4
    assert metric(echo, "mlserve_in_flight_requests", api="t") == 0


def test_health_readiness_and_docs(echo):
    assert echo.client.get("/healthz").json() == {"status": "ok"}
    assert echo.client.get("/readyz").json() == {"ready": True}
    schema = echo.client.get("/openapi.json").json()
    assert "post" in schema["paths"]["/t"]
    assert echo.client.get("/docs").status_code == 200
    assert echo.client.get("/t").status_code == 405


def test_access_log_on_stdout(echo):
    post(echo, json={}, headers={"x-request-id": "logged-1"})
    assert '"POST /t" 200' in echo.stdout_line("request_id=logged-1")
    assert "Traceback" not in echo.stdout_path.read_text()
