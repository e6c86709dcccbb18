"""MLSERVE_MESH_PATH (Istio-mode pods): predictions on that fixed path too, only when it is set."""

from __future__ import annotations

import pytest

from mlserve.runtime.mesh import MESH_PATH, PATH_ENV

pytestmark = pytest.mark.timeout(120)
KEY = "mesh-key-123"


def test_the_mesh_path_answers_like_the_endpoint(start, monkeypatch):
    monkeypatch.setenv(PATH_ENV, MESH_PATH)
    server = start("echo.py", {}, {"networking": {"endpoint": "/models/v2"}})
    direct = server.client.post("/models/v2", json={"a": 1})
    via_mesh = server.client.post(MESH_PATH, json={"a": 1}, headers={"x-request-id": "mesh-1"})
    assert direct.status_code == via_mesh.status_code == 200
    assert via_mesh.json() == direct.json() == {"type": "dict", "payload": {"a": 1}}
    assert via_mesh.headers["x-request-id"] == "mesh-1"
    # the query string travels (the predictor reads it), errors keep the one shape
    assert server.client.post(MESH_PATH + "?do=text", content="x", headers={"content-type": "text/plain"}).text \
        == "hello x"
    failed = server.client.post(MESH_PATH + "?do=raise", json={})
    assert failed.status_code == 500 and set(failed.json()) == {"error", "request_id", "hint"}
    # counted as the API's predictions, logged under its endpoint
    assert 'mlserve_requests_total{api="t",code="200"} 3.0' in server.client.get("/metrics").text
    assert "/models/v2" in server.stdout_line("request_id=mesh-1")
    # only the exact path: nothing below it, and GET stays a 405 as on the endpoint
    assert server.client.post(MESH_PATH + "/x", json={}).status_code == 404
    assert server.client.get(MESH_PATH).status_code == server.client.get("/models/v2").status_code == 405


def test_without_the_setting_the_path_does_not_exist(start, monkeypatch):
    monkeypatch.delenv(PATH_ENV, raising=False)
    server = start("echo.py")
    assert server.client.post("/t", json={}).status_code == 200
    missing = server.client.post(MESH_PATH, json={})
    assert missing.status_code == 404 and set(missing.json()) == {"error", "request_id", "hint"}


def test_the_api_key_guards_the_mesh_path_too(start, monkeypatch):
    monkeypatch.setenv(PATH_ENV, MESH_PATH)
    monkeypatch.setenv("T_API_KEY", KEY)
    server = start("echo.py", {}, {"networking": {"api_key_env": "T_API_KEY"}})
    assert server.client.post(MESH_PATH, json={}).status_code == 401
    assert server.client.post(MESH_PATH, json={"k": 1}, headers={"x-api-key": KEY}).json()["payload"] == {"k": 1}


def test_a_bad_value_stops_the_runtime_with_a_clear_error(start, monkeypatch):
    monkeypatch.setenv(PATH_ENV, "predict")
    server = start("echo.py", ready=False)
    assert server.proc.wait(60) == 2
    assert f"{PATH_ENV}='predict' is not a path like {MESH_PATH}" in server.logs()
