"""API keys end to end on the local backend: deploy refuses an unset key, the running API
demands it, `mlserve predict` sends it."""

from __future__ import annotations

import pytest
from cli_harness import invoke
from local_harness import edit_spec, project_copy

pytestmark = pytest.mark.timeout(300)


def test_api_key_local(tmp_path, monkeypatch):
    with project_copy(tmp_path / "project") as folder:
        spec = folder / "cortex.yaml"
        edit_spec(spec, lambda apis: apis[1].setdefault("networking", {}).update(api_key_env="ECHO_KEY"))
        payload = tmp_path / "payload.json"
        payload.write_text('{"name": "Bo"}')
        monkeypatch.delenv("ECHO_KEY", raising=False)
        result = invoke("deploy", str(spec))
        assert result.exit_code == 1
        assert "ECHO_KEY holding the API key is not set" in result.stderr and "export ECHO_KEY=" in result.stderr
        assert invoke("get", "-o", "json", "-f", str(spec)).stdout.strip() in ("", "[]")  # nothing started

        monkeypatch.setenv("ECHO_KEY", "local-key-1")
        assert invoke("deploy", str(spec)).exit_code == 0
        result = invoke("predict", "echo", str(payload), "--spec", str(spec))
        assert result.exit_code == 0, result.output
        monkeypatch.delenv("ECHO_KEY")
        result = invoke("predict", "echo", str(payload), "--spec", str(spec))
        assert result.exit_code == 1
        assert "answered 401: no API key was sent" in result.stderr and "X-API-Key" in result.stderr
        assert invoke("predict", "greet", str(payload), "--spec", str(spec)).exit_code == 0  # an open API
