"""An AsyncAPI on a real cluster with its queue in SQS and its results in S3 (the AWS emulator), the
pods' credentials from a Secret the environment names: 20 submissions all complete, the workers scale
up on the queue's length, down to zero once it is empty (min_replicas 0) and back for a new item, and
delete removes the queues. A worker that cannot start fails the deploy, named, with its log.

Pods run on MLSERVE_TEST_NODE with the host network, so they reach the emulator at its loopback
address like this machine does. Measured times are printed (run with -s).
"""

from __future__ import annotations

import json
import time
import uuid

import boto3
import botocore.exceptions
import httpx
import pytest

from tests.e2e.conftest import AWS_SECRET, make_aws_secret, need

pytestmark = pytest.mark.e2e
ENV = "e2e-async"
TICK = 2  # seconds between the autoscaler's decisions
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
SLOW = ("import time\n\n\nclass Slow:\n    def predict(self, payload):\n        time.sleep(2)\n"
        "        return {'n': payload['n'] * 2}\n")
SPEC = """\
- name: doubler
  kind: AsyncAPI
  predictor:
    path: slow.py
  compute: {cpu: 100m, mem: 128Mi}
  autoscaling:
    min_replicas: 0
    init_replicas: 1
    max_replicas: 3
    target_replica_concurrency: 2
    window: 6s
    upscale_stabilization_period: 2s
    downscale_stabilization_period: 20s
  update_strategy: {max_surge: 0, max_unavailable: 1}
"""


def test_submissions_complete_workers_scale_on_the_queue_and_delete_removes_it(cluster, aws_endpoint, tmp_path,
                                                                               monkeypatch):
    need("MLSERVE_TEST_NODE")  # the pods reach the emulator on the node's loopback address
    for key, value in AWS.items():
        monkeypatch.setenv(key, value)
    project = tmp_path / "queued"
    project.mkdir()
    (project / "slow.py").write_text(SLOW)
    (project / "cortex.yaml").write_text(SPEC)
    spec = project / "cortex.yaml"
    bucket = f"e2e-async-{uuid.uuid4().hex[:8]}"
    make_aws_secret(cluster)
    cluster.mlserve("env", "set", ENV, "--provider", "kubernetes", *cluster.env_args(), "--autoscaler-interval",
                    str(TICK), "--region", "us-east-1", "--aws-endpoint-url", aws_endpoint, "--async-bucket", bucket,
                    "--aws-secret", AWS_SECRET)
    from kubernetes import client

    apps = client.AppsV1Api(cluster.api_client())
    sqs = boto3.client("sqs", endpoint_url=aws_endpoint)
    queue = f"mlserve-{ENV}-{cluster.namespace}-doubler.fifo"
    times: dict[str, float] = {}
    try:
        started = time.monotonic()
        cluster.mlserve("deploy", spec, "--env", ENV, extra_env=AWS)
        times["deploy_s"] = time.monotonic() - started
        assert sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        endpoint = json.loads(cluster.mlserve("get", "doubler", "--env", ENV, "--spec", spec, "-o", "json").stdout)[
            "endpoint"]

        started = time.monotonic()
        ids = []
        for n in range(20):
            answer = httpx.post(endpoint, json={"n": n}, timeout=30)
            assert answer.status_code == 200, answer.text
            ids.append(answer.json()["id"])
        assert len(set(ids)) == 20
        workers, records = [], {}
        deadline = time.monotonic() + 300
        while len(records) < 20 and time.monotonic() < deadline:
            workers.append(apps.read_namespaced_deployment("doubler-worker", cluster.namespace).spec.replicas)
            for item in set(ids) - set(records):
                record = httpx.get(f"{endpoint}/{item}", timeout=30).json()
                assert record["status"] in ("in_queue", "in_progress", "completed"), record
                if record["status"] == "completed":
                    records[item] = record
            time.sleep(1)
        times["20_items_submitted_to_completed_s"] = time.monotonic() - started
        assert sorted(r["result"]["n"] for r in records.values()) == [2 * n for n in range(20)], records
        # 20 waiting items, 2 per worker: the autoscaler asked for more than the one worker it started with.
        assert max(workers) >= 2, workers
        times["most_workers"] = max(workers)
        missing = httpx.get(f"{endpoint}/no-such-id", timeout=30)
        assert missing.status_code == 404 and missing.json()["hint"]

        # Idle: the workers go to zero after the downscale period; the gateway stays and a new item wakes one.
        started, deadline = time.monotonic(), time.monotonic() + 180
        while apps.read_namespaced_deployment("doubler-worker", cluster.namespace).spec.replicas and \
                time.monotonic() < deadline:
            time.sleep(2)
        assert apps.read_namespaced_deployment("doubler-worker", cluster.namespace).spec.replicas == 0
        times["idle_to_zero_workers_s"] = time.monotonic() - started
        started = time.monotonic()
        woken = httpx.post(endpoint, json={"n": 21}, timeout=30).json()["id"]
        record, deadline = {}, time.monotonic() + 240
        while record.get("status") != "completed" and time.monotonic() < deadline:
            time.sleep(1)
            record = httpx.get(f"{endpoint}/{woken}", timeout=30).json()
        assert record.get("result") == {"n": 42}, record
        times["woken_from_zero_submitted_to_completed_s"] = time.monotonic() - started
    finally:
        print(f"\nasync e2e times: {json.dumps(times)}")
        result = cluster.mlserve("delete", "--all", "--env", ENV, "--spec", spec, extra_env=AWS, check=False)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stderr.split())  # as printed, lines wrapped or not
    assert f"deleted SQS queues {queue}, " in said and "kept its 21 result(s)" in said, result.stderr
    with pytest.raises(botocore.exceptions.ClientError):
        sqs.get_queue_url(QueueName=queue)
    assert cluster.objects("doubler") == []


BROKEN = "class Broken:\n    def __init__(self, config):\n        raise RuntimeError('no model here')\n\n" \
         "    def predict(self, payload):\n        return payload\n"


def test_a_worker_that_cannot_start_fails_the_deploy_with_its_reason(cluster, aws_endpoint, tmp_path, monkeypatch):
    """The gateway only imports the predictor, so it gets ready; the deploy still waits for the workers
    and says why theirs do not start, as for an API."""
    need("MLSERVE_TEST_NODE")
    for key, value in AWS.items():
        monkeypatch.setenv(key, value)
    project = tmp_path / "broken"
    project.mkdir()
    (project / "broken.py").write_text(BROKEN)
    (project / "cortex.yaml").write_text("- name: broken\n  kind: AsyncAPI\n  predictor: {path: broken.py}\n"
                                         "  compute: {cpu: 50m, mem: 128Mi}\n")
    make_aws_secret(cluster)
    cluster.mlserve("env", "set", f"{ENV}-broken", "--provider", "kubernetes", *cluster.env_args(), "--region",
                    "us-east-1", "--aws-endpoint-url", aws_endpoint, "--aws-secret", AWS_SECRET)
    spec = project / "cortex.yaml"
    try:
        result = cluster.mlserve("deploy", spec, "--env", f"{ENV}-broken", check=False)
        said = " ".join(result.stderr.split())
        assert result.returncode != 0, result.stdout + result.stderr
        assert "broken-worker" in said and "no model here" in said, result.stderr
    finally:
        cluster.mlserve("delete", "--all", "--env", f"{ENV}-broken", "--spec", spec, check=False)
