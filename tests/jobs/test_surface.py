"""TaskAPI jobs and the surface of jobs: mlserve.Client, `mlserve predict --wait`, `get`, `logs --job`."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx
import pytest
from rich.console import Console

import mlserve
from mlserve import kinds
from mlserve.cli.get import jobs_table
from mlserve.contract.status import Status
from mlserve.deploy.base import APIStatus
from mlserve.errors import PredictionFailed
from mlserve.kinds.jobs import UNLISTED, jobs_of
from tests.cli.cli_harness import invoke
from tests.loopback import free_port


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


class PodProxy:
    """A cluster whose pod proxy reaches the locally deployed job service (Cluster.pod_get's contract:
    the body of a GET on the pod's port, None when unreachable); the pods stand in for its one replica."""

    def __init__(self, port: int) -> None:
        self.port, self.asked = port, []

    def pod_get(self, pod: dict, port: int, path: str, timeout: float = 2.0) -> str | None:
        self.asked.append((pod["metadata"]["name"], port, path))
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=timeout).text
        except httpx.TransportError:
            return None


def _pod(name: str, ready: bool) -> dict:
    return {"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


def test_get_on_a_cluster_lists_the_job_services_jobs_through_its_pod(deployed):
    job = deployed.submit({"item_list": {"items": [1, 2, 3, 4], "batch_size": 2}})
    assert deployed.wait(job)["status"] == "succeeded"
    port = int(urlsplit(deployed.url()).port)
    deployment = {"spec": {"template": {"spec": {"containers": [{"ports": [{"containerPort": port}]}]}}}}
    spec = {"name": "squares", "kind": "BatchAPI", "networking": {"endpoint": "/squares"}}
    row = APIStatus(api="squares", status=Status.LIVE, spec=spec)
    cluster = PodProxy(port)
    kinds.of_spec(spec).describe_pods(row, cluster, deployment, [_pod("squares-0", False), _pod("squares-1", True)])
    assert cluster.asked == [("squares-1", port, "/squares")]  # the ready pod only, the API's endpoint
    assert row.reason is None and row.jobs == httpx.get(deployed.url()).json()["jobs"]
    shown = next(j for j in row.jobs if j["job_id"] == job)
    assert (shown["status"], shown["batches_succeeded"], shown["batches_total"]) == ("succeeded", 2, 2)
    out = Console(width=200, record=True)
    out.print(jobs_table(row.jobs))
    assert any(job in line and "succeeded" in line and "2/2" in line for line in out.export_text().splitlines())
    gone = APIStatus(api="squares", status=Status.LIVE, spec=spec)
    kinds.of_spec(spec).describe_pods(gone, PodProxy(free_port()), deployment, [_pod("squares-1", True)])
    assert gone.jobs == [] and gone.reason == UNLISTED  # said, not shown as "no jobs"


def test_jobs_of_reads_only_a_job_list():
    assert jobs_of('{"jobs": [{"job_id": "a"}]}') == [{"job_id": "a"}]
    for answer in (None, "", "<html>502</html>", "[]", '{"error": "x"}', '{"jobs": 3}'):
        assert jobs_of(answer) is None, answer
