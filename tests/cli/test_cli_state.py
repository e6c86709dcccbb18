"""A damaged `.mlserve/state.json` is a clear error with a hint, never a traceback, and nothing
acts on it: the running APIs are left alone until the file is fixed."""

from __future__ import annotations

import json

import httpx
import pytest
from cli_harness import invoke
from local_harness import alive, pids, project_copy

from mlserve.deploy.local.backend import LocalBackend

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(autouse=True)
def no_user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSERVE_CONFIG", str(tmp_path / "environments.yaml"))


def assert_state_error(result, state_file, where):
    assert result.exit_code == 1, result.output
    assert f"error: {state_file} is not a valid mlserve state file: {where}" in result.stderr
    assert f"hint: delete {state_file.parent} and run mlserve deploy again" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("content, where", [
    ({"apis": []}, "apis: Input should be an object"),
    ({"version": 1, "apis": {"x": {"name": "x"}}}, "apis.x.port: Field required"),
    ("[1, 2]", None),
])
def test_a_wrong_shape_is_reported_like_invalid_json(tmp_path, monkeypatch, content, where):
    monkeypatch.chdir(tmp_path)
    state_file = tmp_path / ".mlserve" / "state.json"
    state_file.parent.mkdir()
    state_file.write_text(content if isinstance(content, str) else json.dumps(content))
    for args in (["get"], ["get", "x"], ["logs", "x"], ["delete", "--all"], ["refresh", "x"]):
        result = invoke(*args)
        if where is None:
            assert result.exit_code == 1 and f"error: {state_file} does not hold a JSON object" in result.stderr
        else:
            assert_state_error(result, state_file, where)


def test_nothing_acts_on_a_state_with_a_bad_record(tmp_path, monkeypatch):
    with project_copy(tmp_path / "project") as folder:
        monkeypatch.chdir(folder)
        assert invoke("deploy").exit_code == 0
        backend = LocalBackend.for_project(folder)
        running = {api: pids(backend, api) for api in ("greet", "echo")}
        state_file = backend.state.state_file
        good = state_file.read_text()
        damaged = json.loads(good)
        damaged["apis"]["echo"]["port"] = str(damaged["apis"]["echo"]["port"])  # "8901"
        state_file.write_text(json.dumps(damaged))
        for args in (["deploy"], ["delete", "greet"], ["delete", "--all"], ["refresh", "greet"], ["get"]):
            assert_state_error(invoke(*args), state_file, "apis.echo.port: Input should be a valid integer")
        assert all(alive(pid) for api in running.values() for pid in api.values())
        state_file.write_text(good)
        assert httpx.post(backend.endpoint("greet"), json={"name": "Kim"}, timeout=30).status_code == 200
