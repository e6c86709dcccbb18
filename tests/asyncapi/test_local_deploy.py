"""An AsyncAPI deployed by the local backend: supervised like an API, reached through the Client and
the CLI (`predict` prints the id, `--wait` the result; `get` shows the queue), and nothing queued lost
when the supervised API process is SIGKILLed (the supervisor restarts it)."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))

from cli_harness import invoke  # noqa: E402
from local_harness import cleanup, pids, wait_for  # noqa: E402

from mlserve.client import Client  # noqa: E402
from mlserve.errors import PredictionFailed  # noqa: E402
from tests.asyncapi.conftest import write_project  # noqa: E402


@pytest.fixture
def deployed(tmp_path):
    spec = write_project(tmp_path, {"name": "jobs", "class_name": "Jobs", "queue": {"visibility_timeout": "2s"}},
                         {"name": "failing", "class_name": "Jobs"})
    client = Client(spec=spec)
    try:
        results = client.deploy()
        assert sorted((r.api, r.action) for r in results) == [("failing", "created"), ("jobs", "created")]
        yield client
    finally:
        assert cleanup(tmp_path) == [], "processes were left behind after delete"


def test_the_client_submits_reads_the_status_and_waits_for_the_result(deployed):
    item = deployed.submit("jobs", {"n": 3})
    assert deployed.result("jobs", item, wait=True, timeout=60) == {"n": 3, "pid": pytest.approx(0, abs=10**9)}
    assert deployed.status("jobs", item)["status"] == "completed"
    with pytest.raises(PredictionFailed, match="404"):
        deployed.status("jobs", "0" * 32)
    failed = deployed.submit("failing", {"n": 1, "fail": True})
    with pytest.raises(PredictionFailed, match="failed"):
        deployed.result("failing", failed, wait=True, timeout=60)


def test_the_cli_prints_the_id_waits_for_the_result_and_shows_the_queue(deployed, tmp_path):
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"n": 4}))
    spec = str(deployed.spec)
    printed = invoke("predict", "jobs", str(payload), "--spec", spec)
    assert printed.exit_code == 0, printed.output
    item = printed.stdout.strip()
    assert len(item) == 32 and deployed.status("jobs", item)["id"] == item
    waited = invoke("predict", "jobs", "-d", '{"n": 5}', "--wait", "--spec", spec)
    assert waited.exit_code == 0 and json.loads(waited.stdout)["n"] == 5
    rows = {r["api"]: r for r in json.loads(invoke("get", "-o", "json", "--spec", spec).stdout)}
    assert rows["jobs"]["kind"] == "AsyncAPI" and rows["jobs"]["status"] == "live"
    assert rows["jobs"]["queue"]["waiting"] == 0 and rows["jobs"]["queue"]["failed"] == 0
    table = invoke("get", "--spec", spec).stdout
    assert "async apis" in table and "waiting" in table
    assert "queue" in invoke("get", "jobs", "--spec", spec).stdout


def test_the_supervised_api_process_killed_with_items_queued_loses_none(deployed, tmp_path):
    hold = tmp_path / "hold"
    hold.touch()
    items = [deployed.submit("jobs", {"n": n, "hold": str(hold)} if n == 0 else {"n": n}) for n in range(20)]
    backend = deployed.backend
    wait_for(lambda: backend.status("jobs")[0].queue["in_progress"] == 1, what="the first item to start")
    before = pids(backend, "jobs")["runtime"]
    os.kill(before, signal.SIGKILL)
    hold.unlink()
    wait_for(lambda: pids(backend, "jobs")["runtime"] not in (None, before)
             and backend.status("jobs")[0].status == "live", timeout=60, what="a restart")
    results = [deployed.result("jobs", item, wait=True, timeout=120) for item in items]
    assert [r["n"] for r in results] == list(range(20))
    log = (tmp_path / "jobs.log").read_text().splitlines()
    assert sorted(log) == sorted(f"done {n}" for n in range(20))
