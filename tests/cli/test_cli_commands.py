"""Every command against one deployed project: deploy, get (table, json, detail), predict,
logs (tail and -f), refresh, delete."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from cli_harness import ctrl_c_ends_cleanly, invoke, read_until, start_until_ctrl_c
from local_harness import project_copy

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    with project_copy(tmp_path_factory.mktemp("cli") / "project") as folder:
        yield folder, invoke("deploy", str(folder / "cortex.yaml"))


def spec(project) -> str:
    return str(project[0] / "cortex.yaml")


def endpoints(project) -> dict[str, str]:
    data = json.loads(invoke("get", "-o", "json", "--spec", spec(project)).stdout)
    return {row["api"]: row["endpoint"] for row in data}


def test_deploy_prints_what_it_did_and_the_endpoints(project):
    _, result = project
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()[1:3]]
    assert [row[:2] for row in rows] == [["greet", "created"], ["echo", "created"]]
    assert all(row[2].startswith("http://127.0.0.1:") for row in rows)
    assert "greet: starting on port" in result.stderr  # progress goes to stderr


def test_get_lists_apis_with_status_and_request_counts(project):
    httpx.post(endpoints(project)["echo"], json={"a": 1}, timeout=30)
    result = invoke("get", "--spec", spec(project))
    assert result.exit_code == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["api", "status", "endpoint", "requests", "2xx/4xx/5xx", "p50", "p99", "last",
                              "update"]
    by_api = {row.split()[0]: row.split() for row in rows}
    assert by_api["echo"][1] == "live" and by_api["greet"][1] == "live"
    assert int(by_api["echo"][3]) >= 1 and by_api["echo"][5].endswith("ms")


def test_get_json_is_machine_readable(project):
    result = invoke("get", "-o", "json", "--spec", spec(project))
    data = json.loads(result.stdout)
    assert sorted(row["api"] for row in data) == ["echo", "greet"]
    assert {row["status"] for row in data} == {"live"}
    one = json.loads(invoke("get", "greet", "-o", "json", "-f", spec(project)).stdout)
    assert one["api"] == "greet" and one["spec"]["predictor"]["config"] == {"greeting": "hello"}
    assert [p["role"] for p in one["processes"]] == ["supervisor", "runtime"]


def test_get_one_api_shows_details(project):
    result = invoke("get", "greet", "--spec", spec(project))
    assert result.exit_code == 0
    for section in ("greet  live", "endpoint", "processes", "supervisor", "runtime", "spec",
                    "greeting: hello", "recent errors", "last log lines", "runtime is ready"):
        assert section in result.stdout


def test_get_finds_the_project_in_the_current_folder(project, monkeypatch):
    monkeypatch.chdir(project[0])
    result = invoke("get")
    assert result.exit_code == 0 and "greet" in result.stdout and "echo" in result.stdout


def test_predict_posts_a_file_or_stdin_and_prints_the_answer(project, tmp_path):
    payload = tmp_path / "payload.json"
    payload.write_text('{"name": "Ada"}')
    result = invoke("predict", "greet", str(payload), "--spec", spec(project))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"message": "hello, Ada!"}
    result = invoke("predict", "echo", "-", "--spec", spec(project), input="plain words")
    assert json.loads(result.stdout) == {"tag": "first", "payload": "plain words"}  # sent as text/plain


def test_predict_exits_1_with_the_apis_error(project):
    result = invoke("predict", "echo", "-", "--spec", spec(project), input='{"fail": true}')
    assert result.exit_code == 1
    assert result.stderr.startswith("error: api 'echo' answered 500: the predictor failed")
    assert "request id" in result.stderr and "Traceback" not in result.output
    result = invoke("predict", "echo", "-", "-t", "application/json", "--spec", spec(project), input="{bad")
    assert result.exit_code == 1 and "answered 400" in result.stderr


def test_logs_prints_the_tail(project):
    result = invoke("logs", "greet", "-n", "3", "--spec", spec(project))
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 3


def test_logs_follow_prints_new_lines_until_interrupted(project):
    url = endpoints(project)["echo"]
    proc = start_until_ctrl_c("logs", "echo", "-f", "-n", "0", "--spec", spec(project))
    stop = threading.Event()

    def keep_posting():  # until the follower has started and shows two of them
        while not stop.wait(0.2):
            httpx.post(url, json={"follow": 1}, timeout=30)

    poster = threading.Thread(target=keep_posting, daemon=True)
    poster.start()
    try:
        read_until(proc, lambda line: '"POST /echo" 200' in line, count=2)  # -n 0: only lines written since
        ctrl_c_ends_cleanly(proc, timeout=60)
    finally:
        stop.set()
        proc.kill()
        poster.join()


def test_refresh_restarts_and_waits(project):
    result = invoke("refresh", "greet", "--spec", spec(project))
    assert result.exit_code == 0
    assert result.stdout.startswith("greet: refreshed, live at http://127.0.0.1:")
    assert httpx.post(endpoints(project)["greet"], json={"name": "Bo"}, timeout=30).status_code == 200


def test_delete_one_api_then_all(tmp_path):
    with project_copy(tmp_path / "project") as folder:
        path = str(folder / "cortex.yaml")
        assert invoke("deploy", path).exit_code == 0
        result = invoke("delete", "echo", "--spec", path)
        assert (result.exit_code, result.stdout) == (0, "echo: deleted\n")
        assert [row["api"] for row in json.loads(invoke("get", "-o", "json", "-f", path).stdout)] == ["greet"]
        result = invoke("delete", "--all", "--spec", path)
        assert (result.exit_code, result.stdout) == (0, "greet: deleted\n")
        assert json.loads(invoke("get", "-o", "json", "-f", path).stdout) == []
        assert "no APIs deployed" in invoke("get", "-f", path).stdout
