"""Optional API keys (networking.api_key_env) through a real runtime."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(120)

KEY = "s3cret-key-123"


@pytest.fixture
def keyed(start, monkeypatch):
    def _start(**networking):
        monkeypatch.setenv("T_API_KEY", KEY)
        return start("echo.py", {}, {"networking": {"api_key_env": "T_API_KEY", **networking}})
    return _start


def test_requests_need_the_key_and_probes_stay_open(keyed):
    server = keyed()
    for headers, problem in (({}, "no API key was sent"), ({"x-api-key": "wrong"}, "the API key is wrong"),
                             ({"authorization": f"Basic {KEY}"}, "no API key was sent")):
        r = server.client.post("/t", json={}, headers=headers)
        assert r.status_code == 401
        body = r.json()
        assert body["error"].startswith(problem) and body["request_id"] == r.headers["x-request-id"]
        assert "Authorization: Bearer <key>" in body["hint"] and "X-API-Key" in body["hint"]
        assert r.headers["www-authenticate"] == "Bearer"
    for headers in ({"x-api-key": KEY}, {"authorization": f"Bearer {KEY}"}, {"Authorization": f"bearer {KEY}"}):
        assert server.client.post("/t", json={"a": 1}, headers=headers).json()["payload"] == {"a": 1}
    assert server.client.get("/healthz").status_code == 200
    assert server.client.get("/readyz").status_code == 200
    assert server.client.get("/metrics").status_code == 200
    assert server.client.get("/openapi.json").status_code == 401
    assert 'mlserve_requests_total{api="t",code="401"} 3.0' in server.client.get("/metrics").text


def test_metrics_can_require_the_key(keyed):
    server = keyed(metrics_require_api_key=True)
    assert server.client.get("/metrics").status_code == 401
    assert server.client.get("/metrics", headers={"x-api-key": KEY}).status_code == 200
    assert server.client.get("/healthz").status_code == 200


def test_runtime_refuses_to_serve_without_the_key(start, monkeypatch):
    monkeypatch.delenv("T_API_KEY", raising=False)
    server = start("echo.py", {}, {"networking": {"api_key_env": "T_API_KEY"}}, ready=False)
    assert server.proc.wait(60) == 2
    assert "T_API_KEY holding the API key is not set" in server.logs()


def test_the_key_never_goes_in_cortex_yaml(start):
    server = start("echo.py", {}, {"networking": {"api_key_env": "not a name"}}, ready=False)
    assert server.proc.wait(60) == 2
    assert "is not an environment variable name" in server.logs()
