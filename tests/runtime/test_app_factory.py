"""`create_app` is a factory: several apps live in one process, each with its own state."""

from __future__ import annotations

import shutil
import threading
import time

import httpx
import pytest
import uvicorn
from loopback import free_port
from runtime_harness import FIXTURES

from mlserve.runtime import create_app
from mlserve.spec import load_project

pytestmark = pytest.mark.timeout(60)


class ThreadServer:
    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def wait_readyz(url: str, status: int) -> httpx.Response:
    deadline = time.monotonic() + 20
    while True:
        r = httpx.get(url + "/readyz")
        if r.status_code == status and (status == 200 or "error" in r.json()):
            return r
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_two_apps_in_one_process_and_a_failed_load_without_exit(tmp_path):
    for name in ("echo.py", "init_fails.py"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    (tmp_path / "cortex.yaml").write_text(
        "- name: a\n  predictor: {path: echo.py}\n"
        "- name: b\n  predictor: {path: echo.py}\n"
        "- name: broken\n  predictor: {path: init_fails.py}\n")
    project = load_project(tmp_path)
    servers = [ThreadServer(create_app(project.root, api)) for api in project.apis]
    try:
        a, b, broken = (s.url for s in servers)
        wait_readyz(a, 200), wait_readyz(b, 200)
        assert httpx.post(a + "/a", json=1).json() == {"type": "int", "payload": 1}
        assert httpx.post(b + "/b", json=2).json() == {"type": "int", "payload": 2}
        assert httpx.post(a + "/a", json=3).status_code == 200
        assert 'mlserve_requests_total{api="a",code="200"} 2.0' in httpx.get(a + "/metrics").text
        assert 'mlserve_requests_total{api="b",code="200"} 1.0' in httpx.get(b + "/metrics").text
        assert 'api="b"' not in httpx.get(a + "/metrics").text
        # Without an on_init_failure callback the app stays up, unready, and says why.
        r = wait_readyz(broken, 503)
        assert "__init__ raised FileNotFoundError" in r.json()["error"]
        r = httpx.post(broken + "/broken", json={})
        assert r.status_code == 503 and "failed to load" in r.json()["error"]
    finally:
        for s in servers:
            s.stop()
