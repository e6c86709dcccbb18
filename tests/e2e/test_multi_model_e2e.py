"""The multi-model drill on a real cluster: a multi-model API whose models live in S3 (the AWS emulator)
serves a steady request loop while (a) a new version of its model appears in S3 and becomes `latest`,
and (b) cortex.yaml's models list gains a second model (and a third with no files) and is deployed: the
new model answers, deploy reports each model (the third failed), not one request fails and no pod is
replaced.

Pods run on MLSERVE_TEST_NODE with the host network, so they reach the emulator at its loopback
address like this machine does. Measured times are printed (run with -s).
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import uuid
from pathlib import Path

import boto3
import httpx
import pytest
import yaml

from tests.e2e.conftest import need

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
ENV = "e2e-models"
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
PREDICTOR = Path(__file__).resolve().parents[1] / "fixtures" / "predictors" / "multi_model.py"


def write_spec(spec: Path, endpoint: str, models: dict[str, str]) -> None:
    api = {"name": "zoo",
           "predictor": {"type": "python", "path": "multi_model.py", "threads_per_process": 4,
                         "env": {**AWS, "AWS_ENDPOINT_URL": endpoint},
                         "multi_model_reloading": {"paths": [{"name": k, "path": v} for k, v in models.items()],
                                                   "watch_interval": "1s"}},
           "compute": {"cpu": "100m", "mem": "256Mi"},
           "update_strategy": {"max_surge": 0, "max_unavailable": 1}}
    spec.write_text(yaml.safe_dump([api], sort_keys=False))


def pod_ids(cluster, api: str) -> set[tuple[str, str]]:
    """(name, uid) of the API's pods: the same set means no pod was replaced or restarted anew."""
    from kubernetes import client

    pods = client.CoreV1Api(cluster.api_client()).list_namespaced_pod(
        cluster.namespace, label_selector=f"app.kubernetes.io/name={api}").items
    return {(p.metadata.name, p.metadata.uid) for p in pods if p.metadata.deletion_timestamp is None}


def restarts(cluster, api: str) -> int:
    from kubernetes import client

    pods = client.CoreV1Api(cluster.api_client()).list_namespaced_pod(
        cluster.namespace, label_selector=f"app.kubernetes.io/name={api}").items
    return sum(s.restart_count for p in pods for s in p.status.container_statuses or [])


def models_rows(stdout: str) -> dict[str, str]:
    """{model: state} from deploy's table of models."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\w+)\s+(loaded|on disk|not loaded|failed|pending)\b",
                                                        stdout, re.M)}


def test_an_s3_version_and_a_model_added_to_cortex_yaml_serve_without_a_refusal_or_a_new_pod(
        cluster, aws_endpoint, tmp_path, monkeypatch):
    need("MLSERVE_TEST_NODE")  # the pods reach the emulator on the node's loopback address
    for key, value in AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    s3 = boto3.client("s3", endpoint_url=aws_endpoint)
    bucket = f"e2e-models-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="iris/1/value.txt", Body=b"iris one")
    s3.put_object(Bucket=bucket, Key="wine/1/value.txt", Body=b"wine one")
    project = tmp_path / "zoo"
    project.mkdir()
    shutil.copy(PREDICTOR, project / "multi_model.py")
    spec = project / "cortex.yaml"
    write_spec(spec, aws_endpoint, {"iris": f"s3://{bucket}/iris"})
    cluster.mlserve("env", "set", ENV, "--provider", "kubernetes", *cluster.env_args())
    times: dict[str, float] = {}
    codes: list[int] = []
    stop = threading.Event()
    loop = threading.Thread()  # replaced by the request loop once the API answers
    try:
        first = cluster.mlserve("deploy", spec, "--env", ENV)
        assert models_rows(first.stdout) == {"iris": "loaded"}, first.stdout + first.stderr
        endpoint = json.loads(cluster.mlserve("get", "zoo", "--env", ENV, "--spec", spec, "-o", "json").stdout)[
            "endpoint"]
        before, restarts_before = pod_ids(cluster, "zoo"), restarts(cluster, "zoo")
        replica_sets = cluster.replica_sets("zoo")

        def steady() -> None:  # the same path as every e2e request: the endpoint `mlserve get` names
            with httpx.Client(timeout=30) as client:
                while not stop.is_set():
                    codes.append(client.post(endpoint, params={"model": "iris"}, json={}).status_code)
                    time.sleep(0.05)

        loop = threading.Thread(target=steady)
        loop.start()

        # (a) a new version appears in S3: the watcher makes it `latest`
        started = time.monotonic()
        s3.put_object(Bucket=bucket, Key="iris/2/value.txt", Body=b"iris two")
        value = None
        while value != "iris two" and time.monotonic() - started < 120:
            value = httpx.post(endpoint, params={"model": "iris"}, json={}, timeout=30).json()["value"]
            time.sleep(0.2)
        assert value == "iris two"
        times["s3_version_to_latest_s"] = round(time.monotonic() - started, 1)

        # (b) cortex.yaml lists a second model, and a third whose prefix holds nothing: deploy applies the
        # list to the running pods and reports each model, the missing one failed, the others serving
        write_spec(spec, aws_endpoint, {"iris": f"s3://{bucket}/iris", "wine": f"s3://{bucket}/wine",
                                        "rose": f"s3://{bucket}/rose"})
        started = time.monotonic()
        second = cluster.mlserve("deploy", spec, "--env", ENV)
        times["list_deploy_s"] = round(time.monotonic() - started, 1)
        applied = re.search(r"zoo: 1/1 ready pods serve the deployed models list \(after (\d+)s\)",
                            " ".join(second.stderr.split()))
        assert applied, second.stderr
        times["configmap_to_pods_s"] = int(applied.group(1))
        assert "zoo: new models list, applied without a rollout" in second.stderr, second.stderr
        assert models_rows(second.stdout) == {"iris": "loaded", "wine": "loaded", "rose": "failed"}, second.stdout
        said = " ".join(second.stdout.split())
        assert f"no object 'rose' and no objects under 'rose/' in bucket '{bucket}'" in said, second.stdout
        assert "zoo: rose failed (the other models keep serving)" in said, second.stdout
        wine = httpx.post(endpoint, params={"model": "wine"}, json={}, timeout=30)
        assert wine.status_code == 200 and wine.json()["value"] == "wine one", wine.text
        served, deadline = len(codes), time.monotonic() + 60
        while len(codes) < served + 10 and time.monotonic() < deadline:  # ten more requests on the new list
            time.sleep(0.1)
        after, restarts_after = pod_ids(cluster, "zoo"), restarts(cluster, "zoo")
        assert cluster.replica_sets("zoo") == replica_sets  # no new pod template: no rollout
    finally:
        stop.set()
        if loop.is_alive():
            loop.join()  # before delete, whose pods stop answering
        print(f"\nmulti-model e2e times: {json.dumps(times)}; requests in the loop: {len(codes)}")
        result = cluster.mlserve("delete", "--all", "--env", ENV, "--spec", spec, check=False)
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)
    assert len(codes) > 20 and {c for c in codes if not 200 <= c < 300} == set(), codes
    assert after == before and restarts_after == restarts_before, (before, after)  # same pods, same processes
    assert result.returncode == 0, result.stderr
