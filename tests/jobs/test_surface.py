"""TaskAPI jobs and the surface of jobs: mlserve.Client, `mlserve predict --wait`, `get`, `logs --job`."""

from __future__ import annotations

import json

import pytest

import mlserve
from mlserve.errors import PredictionFailed
from tests.cli.cli_harness import invoke


@pytest.fixture
def client(deployed):
    return mlserve.Client("local", deployed.folder / "cortex.yaml")


def test_a_task_runs_once_with_the_merged_config(deployed, client):
    record = client.submit_job("chores", {"config": {"name": "sweep", "out": str(deployed.out)}})
    rec = deployed.wait(record["job_id"], api="chores")
    assert rec["status"] == "succeeded", rec
    written = json.loads((deployed.out / "sweep.json").read_text())
    assert written["sleep"] == 0 and written["name"] == "sweep"  # the API's config under the job's
    assert any("task starting: sweep" in line for line in client.job_logs("chores", rec["job_id"]))


def test_a_failing_task_is_failed_and_its_log_has_the_traceback(deployed, client):
    job = client.submit_job("chores", {"config": {"fail": True, "out": str(deployed.out)}})["job_id"]
    rec = deployed.wait(job, api="chores")
    assert rec["status"] == "failed" and "exited with code 1" in rec["message"]
    assert any("RuntimeError: asked to fail" in line for line in client.job_logs("chores", job))


def test_a_task_can_be_stopped_and_timed_out(deployed, client):
    job = client.submit_job("chores", {"config": {"sleep": 30, "out": str(deployed.out)}})["job_id"]
    deployed.wait(job, api="chores", until=lambda r: r["worker_pids"])
    assert client.stop_job("chores", job)["status"] == "stopped"
    job = client.submit_job("chores", {"timeout": 1, "config": {"sleep": 30, "out": str(deployed.out)}})["job_id"]
    assert deployed.wait(job, api="chores")["status"] == "timed_out"


def test_the_client_raises_the_services_400(client):
    with pytest.raises(PredictionFailed) as caught:
        client.submit_job("squares", {"item_list": {"items": [1]}})
    assert caught.value.status_code == 400 and "item_list.batch_size" in str(caught.value)


def test_predict_wait_follows_a_job_and_get_and_logs_show_it(deployed, tmp_path):
    spec = str(deployed.folder / "cortex.yaml")
    body = tmp_path / "job.json"
    body.write_text(json.dumps({"item_list": {"items": list(range(9)), "batch_size": 3},
                                "config": {"out": str(deployed.out)}}))
    result = invoke("predict", "squares", str(body), "--wait", "--spec", spec, "--env", "local")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout[result.stdout.index("{"):])
    assert record["status"] == "succeeded" and record["batches_succeeded"] == 3
    shown = invoke("get", "squares", "--spec", spec, "--env", "local")
    assert record["job_id"] in shown.stdout and "3/3" in shown.stdout
    logs = invoke("logs", "squares", "--job", record["job_id"], "--spec", spec, "--env", "local")
    assert logs.exit_code == 0 and "batch 000002: done" in logs.stdout


def test_predict_wait_exits_1_when_the_job_has_failures(deployed, tmp_path):
    body = tmp_path / "job.json"
    body.write_text(json.dumps({"item_list": {"items": [1, 2], "batch_size": 1}, "retry": {"max_attempts": 1},
                                "config": {"fail_on": 2, "out": str(deployed.out)}}))
    result = invoke("predict", "squares", str(body), "--wait", "--spec", str(deployed.folder / "cortex.yaml"),
                    "--env", "local")
    assert result.exit_code == 1 and "completed_with_failures" in result.output
