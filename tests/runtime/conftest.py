"""Fixtures for runtime tests: `start(...)` runs the real runtime in a subprocess."""

from __future__ import annotations

import pytest
from runtime_harness import Server


@pytest.fixture
def start(tmp_path_factory):
    """start(fixture_file, predictor={...}, api={...}, ready=True) -> a running Server."""
    servers: list[Server] = []

    def _start(fixture: str, predictor: dict | None = None, api: dict | None = None, ready: bool = True) -> Server:
        server = Server(tmp_path_factory.mktemp("api"), fixture, predictor or {}, api or {})
        servers.append(server)
        if ready:
            server.wait()
        return server

    yield _start
    for server in servers:
        server.stop()
