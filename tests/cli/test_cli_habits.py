"""get -o wide|yaml, endpoints on an 80-column terminal, get --watch, predict -d/--stream, the JSON
parse error, MLSERVE_ENV and shell completion, against one deployed project."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml
from cli_harness import command, ctrl_c_ends_cleanly, invoke, read_until, start_until_ctrl_c
from local_harness import project_copy

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    with project_copy(tmp_path_factory.mktemp("habits") / "project", stream=True) as folder:
        assert invoke("deploy", str(folder)).exit_code == 0
        yield str(folder / "cortex.yaml")


def run(*args: str, columns: int = 80, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": str(columns), **env})


def test_endpoints_are_never_cut_on_80_columns(spec):
    endpoints = {row["api"]: row["endpoint"] for row in json.loads(invoke("get", "-o", "json", "-f", spec).stdout)}
    for output in ("table", "wide"):
        result = run("get", "-o", output, "-f", spec, columns=60)
        assert result.returncode == 0, result.stderr
        assert all(url in result.stdout for url in endpoints.values()), result.stdout
    table = run("get", "-f", spec, columns=60).stdout
    assert all(len(line) <= 60 for line in table.splitlines()), table  # endpoints moved below the table
    wide = run("get", "-o", "wide", "-f", spec).stdout
    assert wide.splitlines()[0].split()[-1] == "replicas"


def test_yaml_output(spec):
    data = yaml.safe_load(invoke("get", "-o", "yaml", "-f", spec).stdout)
    assert sorted(row["api"] for row in data) == ["echo", "greet", "stream"]
    assert yaml.safe_load(invoke("get", "greet", "-o", "yaml", "-f", spec).stdout)["api"] == "greet"


def test_watch_renders_until_ctrl_c(spec):
    proc = start_until_ctrl_c("get", "-w", "--interval", "0.2", "-f", spec)
    try:
        read_until(proc, lambda line: line.startswith("--- "), count=3)  # three renders, then Ctrl-C
        ctrl_c_ends_cleanly(proc, timeout=30)
    finally:
        proc.kill()


def test_predict_inline_data_and_stream(spec):
    result = invoke("predict", "greet", "-d", '{"name": "Ada"}', "-f", spec)
    assert result.exit_code == 0 and json.loads(result.stdout) == {"message": "hello, Ada!"}
    result = invoke("predict", "stream", "--stream", "-d", '{"n": 3}', "-f", spec)
    assert (result.exit_code, result.stdout) == (0, "token 0\ntoken 1\ntoken 2\n")


def test_a_body_that_looks_like_json_must_parse(spec, tmp_path):
    bad = tmp_path / "payload.json"
    bad.write_text('{\n  "name": "Ada",\n}\n')
    result = invoke("predict", "greet", str(bad), "-f", spec)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {bad}:3:1: not valid JSON")
    result = invoke("predict", "greet", "-d", "[1, 2", "-f", spec)
    assert result.exit_code == 1 and "the body:1:6: not valid JSON" in result.stderr
    result = invoke("predict", "echo", "-d", "just words", "-f", spec)  # plain text is still text
    assert json.loads(result.stdout)["payload"] == "just words"


def test_5xx_answers_are_listed_with_request_ids(spec):
    failed = invoke("predict", "echo", "-d", '{"fail": true}', "-f", spec)
    request_id = failed.stderr.split("request id ")[1].split(")")[0]
    detail = invoke("get", "echo", "-f", spec).stdout
    recent = detail.split("recent errors")[1].split("last log lines")[0]
    assert request_id in recent and "500" in recent


def test_mlserve_env_is_the_default_environment(spec, tmp_path):
    result = run("get", "-f", spec, MLSERVE_ENV="elsewhere", MLSERVE_CONFIG=str(tmp_path / "envs.yaml"))
    assert result.returncode == 1 and "no environment named 'elsewhere'" in result.stderr


def test_shell_completion_is_offered():
    result = run("--help")
    assert "--install-completion" in result.stdout
    # Without a terminal's parent shell to detect, typer takes the shell as the option's value.
    result = run("--show-completion", "bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    assert result.returncode == 0 and "complete" in result.stdout
