"""Help, usage errors (exit 2) and user errors (exit 1 with `error:` and a hint, never a traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_harness import command, invoke
from local_harness import project_copy

import mlserve

pytestmark = pytest.mark.timeout(120)
COMMANDS = ["deploy", "get", "logs", "predict", "refresh", "delete"]


@pytest.fixture(autouse=True)
def no_user_config(tmp_path, monkeypatch):
    """Environments come from a config file of the test's own, not the user's."""
    monkeypatch.setenv("MLSERVE_CONFIG", str(tmp_path / "environments.yaml"))


def test_help_lists_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.stdout
    assert "mlserve deploy" in result.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_help(name):
    result = invoke(name, "--help")
    assert result.exit_code == 0 and f"Usage: mlserve {name}" in result.stdout


def test_version():
    assert invoke("--version").stdout == f"mlserve {mlserve.__version__}\n"


@pytest.mark.parametrize("args", [
    ["nonsense"],
    ["get", "--bogus"],
    ["get", "-o", "xml"],
    ["delete"],
    ["delete", "echo", "--all"],
    ["logs"],
    ["predict", "echo"],
    ["predict", "echo", "/no/such/payload.json"],
])
def test_usage_errors_exit_2(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Usage: mlserve" in result.stderr
    assert "Traceback" not in result.output


def assert_user_error(result, *expected: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ")
    assert "\nhint: " in result.stderr
    assert "Traceback" not in result.output
    for text in expected:
        assert text in result.stderr


def test_deploy_without_a_cortex_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_user_error(invoke("deploy"), "error: cortex.yaml not found", "mlserve deploy path/to/cortex.yaml")


def test_deploy_of_an_invalid_spec_names_file_line_and_field(tmp_path):
    spec = tmp_path / "cortex.yaml"
    spec.write_text("- name: qa\n  predictor:\n    path: p.py\n  autoscaling:\n    min_replicas: 5\n"
                    "    max_replicas: 2\n")
    (tmp_path / "p.py").write_text("class P:\n    def predict(self, payload):\n        return 1\n")
    result = invoke("deploy", str(spec))
    assert result.exit_code == 1
    assert f"error: {spec}:5: api 'qa': autoscaling.min_replicas (5) must be <= max_replicas (2)" in result.stderr


def test_commands_on_an_api_that_is_not_deployed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (["get", "qa"], ["logs", "qa"], ["refresh", "qa"], ["delete", "qa"]):
        assert_user_error(invoke(*args), "error: api 'qa' is not deployed from", "mlserve deploy")
    (tmp_path / "payload.json").write_text("{}")
    assert_user_error(invoke("predict", "qa", "payload.json"), "error: api 'qa' is not deployed")
    result = invoke("get")
    assert result.exit_code == 0 and "no APIs deployed" in result.stdout


def test_an_unknown_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_user_error(invoke("get", "--env", "prod"), "no environment named 'prod'")


def test_a_broken_predictor_fails_deploy_with_its_traceback_and_exit_1(tmp_path):
    with project_copy(tmp_path / "project") as folder:
        run = subprocess.run(command("deploy", str(folder / "broken.yaml")), cwd=folder,
                             capture_output=True, text=True, timeout=100)
        assert run.returncode == 1, run.stderr
        err = run.stderr
        assert "error: api 'broken' is not ready: the runtime exited with code 3" in err
        # The frames name the project's own file (the runtime ran the deployed copy of it).
        assert f'{folder.resolve()}/predictors/broken.py", line 5, in load_weights' in err
        assert ".mlserve/snapshots" not in err
        assert "FileNotFoundError: weights not found at /nowhere/model.bin" in err
        assert "hint: fix the error above" in err
        # The user's traceback only: no frames of mlserve's own code or the CLI machinery.
        assert "mlserve/cli" not in err and "mlserve/deploy" not in err and "typer" not in err


def test_the_console_script_is_installed():
    script = Path(sys.executable).parent / "mlserve"
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable} (mlserve not pip-installed here)")
    run = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout) == (0, f"mlserve {mlserve.__version__}\n")
