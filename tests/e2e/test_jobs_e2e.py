"""A BatchAPI and a TaskAPI on a real cluster, each job an SQS queue and a Kubernetes Job, the records in
S3 (the AWS emulator): a 40-item job with 2 workers writes every item once, a task runs, a stop ends
the pods within seconds, and a job survives its job service's pod being deleted (resumed or honestly
reported). And the example's fine-tune-then-serve story, entirely on the cluster: its `finetune` TaskAPI
trains a tiny model on a text in S3 into an s3:// prefix, and the story API serves that prefix once it is
listed and deployed, without a restart. Pods run on MLSERVE_TEST_NODE with the host network (they reach
the emulator at its loopback address). Measured times are printed (run with -s).
"""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from pathlib import Path

import boto3
import httpx
import pytest
import yaml

from tests.e2e.conftest import AWS_SECRET, make_aws_secret, need
from tests.models.tiny_gguf import write_tiny_llama_gguf
from tests.predictors.seed_predictors import load_predictor

pytestmark = pytest.mark.e2e
ENV = "e2e-jobs"
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
REPO = Path(__file__).resolve().parents[2]
TERMINAL = ("succeeded", "completed_with_failures", "failed", "stopped", "timed_out")
BATCH = '''\
import json
import time

import boto3


class Copier:
    """Writes each batch's items to <out>/<job>/<batch_id>.json: a rerun overwrites, never duplicates."""

    def __init__(self, config, job_spec):
        self.config, self.job_id = config, job_spec["job_id"]
        self.bucket, _, self.prefix = config["out"].removeprefix("s3://").partition("/")
        self.s3 = boto3.client("s3")

    def predict(self, payload, batch_id):
        time.sleep(self.config.get("sleep", 0))
        key = f"{self.prefix}/{self.job_id}/{batch_id}.json"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(payload).encode())
        print(f"wrote {len(payload)} items to {key}", flush=True)
'''
TASK = '''\
import boto3


class Task:
    def __call__(self, config):
        bucket, _, key = config["out"].removeprefix("s3://").partition("/")
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=b"done")
        print("task done", flush=True)
'''
SPEC = """\
- name: copier
  kind: BatchAPI
  predictor:
    path: copier.py
    env: {AWS_ACCESS_KEY_ID: testing, AWS_SECRET_ACCESS_KEY: testing}
  compute: {cpu: 100m, mem: 128Mi}
- name: marker
  kind: TaskAPI
  definition:
    path: marker.py
    env: {AWS_ACCESS_KEY_ID: testing, AWS_SECRET_ACCESS_KEY: testing}
  compute: {cpu: 100m, mem: 128Mi}
"""


class Jobs:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def submit(self, body: dict) -> str:
        answer = httpx.post(self.endpoint, json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()["job_id"]

    def get(self, job_id: str) -> dict:
        return httpx.get(self.endpoint, params={"jobID": job_id}, timeout=30).json()

    def wait(self, job_id: str, until, timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                record = self.get(job_id)
                if until(record):
                    return record
            except (httpx.TransportError, ValueError):
                record = None  # the job service is restarting
            assert time.monotonic() < deadline, f"job {job_id} did not get there in {timeout}s: {record}"
            time.sleep(0.2)


def test_batch_and_task_jobs_run_as_kubernetes_jobs_on_sqs(cluster, aws_endpoint, tmp_path, monkeypatch):
    need("MLSERVE_TEST_NODE")
    for key, value in AWS.items():
        monkeypatch.setenv(key, value)
    project = tmp_path / "jobs"
    project.mkdir()
    (project / "copier.py").write_text(BATCH)
    (project / "marker.py").write_text(TASK)
    (project / "cortex.yaml").write_text(SPEC)
    spec = project / "cortex.yaml"
    bucket = f"e2e-jobs-{uuid.uuid4().hex[:8]}"
    cluster.mlserve("env", "set", ENV, "--provider", "kubernetes", *cluster.env_args(), "--region", "us-east-1",
                    "--aws-endpoint-url", aws_endpoint, "--async-bucket", bucket)
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client())
    s3 = boto3.client("s3", endpoint_url=aws_endpoint)
    sqs = boto3.client("sqs", endpoint_url=aws_endpoint)
    out = f"s3://{bucket}/out"
    times: dict[str, float] = {}

    def pods(selector: str) -> list:
        return [p for p in core.list_namespaced_pod(cluster.namespace, label_selector=selector).items]

    def endpoint(api: str) -> str:
        return json.loads(cluster.mlserve("get", api, "--env", ENV, "--spec", spec, "-o", "json").stdout)["endpoint"]

    try:
        started = time.monotonic()
        cluster.mlserve("deploy", spec, "--env", ENV, extra_env=AWS)
        times["deploy_s"] = time.monotonic() - started
        copier, marker = Jobs(endpoint("copier")), Jobs(endpoint("marker"))

        # 40 items, 2 workers: succeeded, every item exactly once in the output.
        submitted = time.monotonic()
        job = copier.submit({"workers": 2, "item_list": {"items": list(range(40)), "batch_size": 4},
                             "config": {"out": out, "sleep": 0.2}})
        copier.wait(job, lambda r: r["batches_succeeded"] >= 1 or r["status"] in TERMINAL)
        times["submission_to_first_batch_done_s"] = time.monotonic() - submitted
        record = copier.wait(job, lambda r: r["status"] in TERMINAL)
        times["40_items_submission_to_succeeded_s"] = time.monotonic() - submitted
        assert record["status"] == "succeeded", record
        assert (record["batches_total"], record["batches_succeeded"]) == (10, 10)
        written = [json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
                   for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"out/{job}/")["Contents"]]
        assert sorted(item for batch in written for item in batch) == list(range(40))
        # Ended: its queues and its Kubernetes Job are gone, its record and log stay.
        assert not sqs.list_queues(QueueNamePrefix=f"mlserve-{ENV}-{cluster.namespace}-copier-{job}").get("QueueUrls")
        assert pods(f"mlserve.dev/job-id={job}") == [] or _gone_soon(lambda: pods(f"mlserve.dev/job-id={job}"))
        log = cluster.mlserve("logs", "copier", "--job", job, "--env", ENV, "--spec", spec).stdout
        assert f"job {job}" in log and "wrote 4 items" in log, log
        # `mlserve get API` lists the jobs as the job service answers them, through its pod.
        listed = json.loads(cluster.mlserve("get", "copier", "--env", ENV, "--spec", spec, "-o", "json").stdout)
        shown = next(j for j in listed["jobs"] if j["job_id"] == job)
        assert (shown["status"], shown["batches_succeeded"], shown["batches_total"]) == ("succeeded", 10, 10), listed
        table = cluster.mlserve("get", "copier", "--env", ENV, "--spec", spec).stdout
        assert any(job in line and "10/10" in line for line in table.splitlines()), table

        # A task: one pod, run once.
        task = marker.submit({"config": {"out": f"{out}/marker-done"}})
        record = marker.wait(task, lambda r: r["status"] in TERMINAL)
        assert record["status"] == "succeeded", (record, httpx.get(f"{marker.endpoint}/logs", params={"jobID": task}).text)
        assert s3.get_object(Bucket=bucket, Key="out/marker-done")["Body"].read() == b"done"

        # Stop: the answer is `stopped`, and the pods are gone within seconds.
        slow = copier.submit({"workers": 2, "item_list": {"items": list(range(40)), "batch_size": 1},
                              "config": {"out": out, "sleep": 5}})
        copier.wait(slow, lambda r: r["status"] == "running" and pods(f"mlserve.dev/job-id={slow}"))
        stopped_at = time.monotonic()
        answer = httpx.delete(copier.endpoint, params={"jobID": slow}, timeout=60).json()
        assert answer["status"] == "stopped", answer
        assert _gone_soon(lambda: pods(f"mlserve.dev/job-id={slow}"), 30), [
            (p.metadata.name, p.status.phase, p.metadata.deletion_timestamp) for p in pods(f"mlserve.dev/job-id={slow}")]
        times["stop_to_pods_gone_s"] = time.monotonic() - stopped_at

        # The job service's pod deleted mid-job: afterwards the job is resumed or reported, never running forever.
        long = copier.submit({"workers": 1, "item_list": {"items": list(range(12)), "batch_size": 1},
                              "config": {"out": out, "sleep": 1}})
        copier.wait(long, lambda r: r["batches_succeeded"] >= 1)
        for pod in pods("app.kubernetes.io/name=copier,app.kubernetes.io/component=job-api"):
            core.delete_namespaced_pod(pod.metadata.name, cluster.namespace)
        deleted_at = time.monotonic()
        record = copier.wait(long, lambda r: r["status"] in TERMINAL, timeout=300)
        times["service_pod_deleted_to_job_ended_s"] = time.monotonic() - deleted_at
        assert record["status"] == "succeeded" or (record["status"] == "failed" and record["message"]), record
        if record["status"] == "succeeded":
            written = [json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
                       for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"out/{long}/")["Contents"]]
            assert sorted(item for batch in written for item in batch) == list(range(12))
        times["service_restart_outcome_succeeded"] = float(record["status"] == "succeeded")
    finally:
        print(f"\njobs e2e times: {json.dumps(times)}")
        result = cluster.mlserve("delete", "--all", "--env", ENV, "--spec", spec, extra_env=AWS, check=False)
    assert result.returncode == 0, result.stderr
    assert "kept its job records" in " ".join(result.stderr.split()), result.stderr
    assert not sqs.list_queues(QueueNamePrefix=f"mlserve-{ENV}-{cluster.namespace}-").get("QueueUrls")
    assert cluster.objects("copier") == [] and cluster.objects("marker") == []


def _gone_soon(find, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while find():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


TURN = {"story": "The knight rode to the castle.", "action": "knock on the gate", "seed": 7,
        "max_new_tokens": 12, "temperature": 0}


def _tune_spec(spec: Path, bucket: str, models: dict[str, str]) -> None:
    """The repository's own `finetune` and `story-generator` entries, their model references in S3 and their
    requests small (the 2-CPU node is shared); the story API lists `models`."""
    shipped = {a["name"]: a for a in yaml.safe_load((REPO / "cortex.yaml").read_text())}
    task, story = shipped["finetune"], shipped["story-generator"]
    task["definition"]["config"]["base"] = f"s3://{bucket}/base"  # the shipped base is the 135M model
    task["compute"] = {"cpu": "250m", "mem": "2Gi"}
    story["predictor"]["multi_model_reloading"]["paths"] = [{"name": k, "path": v} for k, v in models.items()]
    story["compute"] = {"cpu": "100m", "mem": "1536Mi"}
    spec.write_text(yaml.safe_dump([task, story], sort_keys=False))


@pytest.mark.timeout(1800)
def test_the_example_finetune_task_trains_into_s3_and_the_story_api_serves_it(cluster, aws_endpoint, tmp_path,
                                                                              monkeypatch):
    need("MLSERVE_TEST_NODE")
    for key, value in {**AWS, "AWS_ENDPOINT_URL": aws_endpoint}.items():
        monkeypatch.setenv(key, value)
    env, bucket = "e2e-tune", f"e2e-tune-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="corpus/plays.txt",
                  Body=("The knight rode to the castle and the gate was shut against him. " * 40).encode())
    project = tmp_path / "story"
    (project / "predictors").mkdir(parents=True)
    for name in ("finetune_task.py", "story_generator.py"):  # the example's own code, as shipped
        shutil.copy(REPO / "predictors" / name, project / "predictors")
    # The tiny base model: the job starts from its S3 copy; the story API serves it from the project (as the
    # example serves its base from the image), so its list names no s3:// model until the tuned one joins.
    (project / "models" / "base").mkdir(parents=True)
    gguf = write_tiny_llama_gguf(project / "models" / "base" / "tiny-llama.gguf", hidden=32)
    s3.upload_file(str(gguf), bucket, "base/tiny-llama.gguf")
    spec, tuned = project / "cortex.yaml", f"s3://{bucket}/story-tuned"
    _tune_spec(spec, bucket, {"base": "models/base"})
    make_aws_secret(cluster)  # the pods' credentials: a Secret the environment names, none in cortex.yaml
    cluster.mlserve("env", "set", env, "--provider", "kubernetes", *cluster.env_args(), "--region", "us-east-1",
                    "--aws-endpoint-url", aws_endpoint, "--async-bucket", bucket, "--aws-secret", AWS_SECRET)
    times: dict[str, float] = {}
    try:
        started = time.monotonic()
        cluster.mlserve("deploy", spec, "--env", env)
        times["deploy_s"] = round(time.monotonic() - started, 1)
        got = json.loads(cluster.mlserve("get", "finetune", "--env", env, "--spec", spec, "-o", "json").stdout)
        task = Jobs(got["endpoint"])
        story = json.loads(cluster.mlserve("get", "story-generator", "--env", env, "--spec", spec, "-o", "json")
                           .stdout)["endpoint"]
        pods, replica_sets = cluster.pods("story-generator"), cluster.replica_sets("story-generator")

        submitted = time.monotonic()
        job = task.submit({"config": {"text": f"s3://{bucket}/corpus", "output": tuned, "steps": 3, "seq_len": 32,
                                      "lr": 1e-2, "threads": 1}})
        record = task.wait(job, lambda r: r["status"] in TERMINAL, timeout=900)
        times["submit_to_succeeded_s"] = round(time.monotonic() - submitted, 1)
        log = cluster.mlserve("logs", "finetune", "--job", job, "--env", env, "--spec", spec).stdout
        assert record["status"] == "succeeded", (record, log)
        assert f"done: {tuned}: held-out loss" in log, log
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="story-tuned/").get("Contents", [])
        written = {o["Key"].removeprefix("story-tuned/") for o in listed}
        assert {"finetune.json", "model.safetensors", "config.json"} <= written, written
        assert not any(".checkpoint" in w for w in written), written

        # The story API lists the job's output: deployed to the running pod, no rollout, then it answers.
        _tune_spec(spec, bucket, {"base": "models/base", "tuned": tuned})
        second = cluster.mlserve("deploy", spec, "--env", env)
        said = " ".join(second.stderr.split())
        assert "story-generator: new models list, applied without a rollout" in said, second.stderr
        assert re.search(r"story-generator: 1/1 ready pods serve the deployed models list", said), second.stderr
        answer = httpx.post(story, json={**TURN, "model": "tuned"}, timeout=120)
        times["submit_to_first_passage_s"] = round(time.monotonic() - submitted, 1)
        assert answer.status_code == 200, answer.text
        assert cluster.pods("story-generator") == pods and cluster.replica_sets("story-generator") == replica_sets
        # The very model the job wrote: the predictor run here on the same s3:// prefix writes the same passage.
        monkeypatch.setenv("MLSERVE_MODEL_CACHE", str(tmp_path / "cache"))
        alone = load_predictor("story_generator", {"model": tuned, "threads": 1}).predict(TURN)
        assert (answer.json()["passage"], answer.json()["tokens"]) == (alone["passage"], alone["tokens"])
        assert alone["tokens"] > 0
        base = httpx.post(story, json=TURN, timeout=120)
        assert base.status_code == 200 and base.json()["passage"] != alone["passage"], base.text
    finally:
        print(f"\nfinetune e2e times: {json.dumps(times)}")
        result = cluster.mlserve("delete", "--all", "--env", env, "--spec", spec, check=False)
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)
    assert result.returncode == 0, result.stderr
    assert cluster.objects("finetune") == [] and cluster.objects("story-generator") == []
