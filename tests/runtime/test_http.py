"""Content-Type and return-type dispatch, error statuses, request ids, metrics and docs."""

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


@pytest.mark.parametrize("content_type, body, expected", [
    ("application/json", b'{"a": [1, 2]}', {"type": "dict", "payload": {"a": [1, 2]}}),
    ("application/json; charset=utf-8", b'"text"', {"type": "str", "payload": "text"}),
    ("application/vnd.api+json", b"[1]", {"type": "list", "payload": [1]}),
    ("text/plain", "h\u00e9llo".encode(), {"type": "str", "payload": "h\u00e9llo"}),
    ("text/plain; charset=latin-1", "h\u00e9llo".encode("latin-1"), {"type": "str", "payload": "h\u00e9llo"}),
    ("application/octet-stream", b"\x00\xff", {"type": "bytes", "payload": "\x00\xff"}),
    ("image/png", b"PNG", {"type": "bytes", "payload": "PNG"}),
    (None, b"raw", {"type": "bytes", "payload": "raw"}),
])
def test_payload_type_follows_content_type(echo, content_type, body, expected):
    headers = {"content-type": content_type} if content_type else {}
    r = post(echo, content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == expected


def test_return_types(echo):
    r = post(echo, "text", content=b"you", headers={"content-type": "text/plain"})
    assert (r.status_code, r.headers["content-type"], r.text) == (200, "text/plain; charset=utf-8", "hello you")
    r = post(echo, "bytes", json={})
    assert (r.headers["content-type"], r.content) == ("application/octet-stream", b"\x00\x01raw")
    r = post(echo, "response", json={})
    assert (r.status_code, r.text, r.headers["x-custom"]) == (201, "custom", "yes")
    assert r.headers["content-type"].startswith("text/csv")
    r = post(echo, "none", json={})
    assert (r.headers["content-type"], r.json()) == ("application/json", None)


def test_query_params_headers_and_config_are_injected(echo):
    r = post(echo, "header", json={}, headers={"X-Test": "abc"})
    assert r.json() == {"x-test": "abc", "config": {"greeting": "hi"}}


def test_bad_json_is_400_with_request_id(echo):
    r = post(echo, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    body = r.json()
    assert body["error"].startswith("the body is not valid JSON")
    assert body["request_id"] == r.headers["x-request-id"]


def test_undecodable_text_is_400(echo):
    r = post(echo, content=b"\xff\xfe", headers={"content-type": "text/plain; charset=utf-8"})
    assert r.status_code == 400
    assert "cannot be decoded as utf-8" in r.json()["error"]
    assert "charset" in r.json()["hint"]  # every error says what to do


def test_request_error_from_predictor_is_400_with_its_message(echo):
    r = post(echo, "request_error", json={})
    assert r.status_code == 400
    assert r.json()["error"] == "payload needs a 'text' field"
    assert r.json()["hint"] == 'send {"text": "..."}'


def test_http_exception_from_predictor_keeps_its_status(echo):
    r = post(echo, "http_exception", json={})
    assert r.status_code == 422
    assert r.json() == {"error": "not this one", "request_id": r.headers["x-request-id"],
                        "hint": "see GET /docs for what this API accepts"}


def test_predictor_exception_is_500_without_details_and_logged(echo):
    r = post(echo, "raise", json={}, headers={"x-request-id": "trace-me-42"})
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "trace-me-42"
    assert r.json()["request_id"] == "trace-me-42"
    assert "secret detail" not in r.text
    logs = echo.stderr_text()
    assert "request trace-me-42: predict raised" in logs
    assert "ValueError: secret detail that must not reach the client" in logs
    assert 'echo.py", line' in logs and "in predict" in logs


def test_unserialisable_result_is_500(echo):
    r = post(echo, "nan", json={})
    assert r.status_code == 500
    assert "cannot be sent as JSON" in r.json()["error"]


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


def test_slow_predictor_is_504(echo):
    r = post(echo, "sleep", params={"s": "3"}, json={})
    assert r.status_code == 504
    assert "request_timeout (1s)" in r.json()["error"]


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
