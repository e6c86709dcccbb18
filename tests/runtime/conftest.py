"""Fixtures for runtime tests: `start(...)` runs the real runtime in a subprocess."""

from __future__ import annotations

import pytest
from runtime_harness import Runtime, serve_fixture


@pytest.fixture
def start(tmp_path_factory):
    """start(fixture_file, predictor={...}, api={...}, ready=True) -> a running Runtime."""
    servers: list[Runtime] = []

    def _start(fixture: str, predictor: dict | None = None, api: dict | None = None, ready: bool = True) -> Runtime:
        server = serve_fixture(tmp_path_factory.mktemp("api"), fixture, predictor or {}, api or {})
        servers.append(server)
        if ready:
            server.wait()
        return server

    yield _start
    for server in servers:
        server.stop()
