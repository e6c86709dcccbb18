"""A job's life on the cluster's stores (SQS + S3, a real AWS emulator): its own queue and dead-letter
queue made at submission and deleted when it ends, its record and log kept in S3 and readable by a
new job service, on_job_complete claimed once. The workers are the real worker processes (a
Kubernetes Job's pods run the same command; tests/e2e/test_jobs_e2e.py runs them there)."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import boto3
import botocore.exceptions
import pytest

from mlserve.deploy.environments import Environment
from mlserve.deploy.job_aws import deprovision, provision
from mlserve.jobs.location import open_store
from mlserve.jobs.processes import LocalProcesses
from mlserve.jobs.service import JobService
from mlserve.jobs.store import TERMINAL
from mlserve.spec import load_project
from tests.jobs.conftest import FIXTURE
from tests.queues.conftest import AWS


@pytest.fixture
def aws(moto_url, monkeypatch):
    for key, value in {**AWS, "AWS_ENDPOINT_URL": moto_url}.items():
        monkeypatch.setenv(key, value)  # this process's and the worker processes' AWS settings
    bucket = f"jobs-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket


def service(folder: Path, bucket: str, api: str = "squares") -> JobService:
    project = load_project(folder / "cortex.yaml")
    store = open_store(f"s3://{bucket}/serving/{api}", queue_prefix=f"mlserve-t-serving-{api}")
    return JobService(project.entry(api), folder, project.file, store, LocalProcesses())


def wait(svc: JobService, job_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while (record := svc.get(job_id))["status"] not in TERMINAL:
        assert time.monotonic() < deadline, record
        time.sleep(0.2)
    svc.runs[job_id].thread.join(30)  # the end's clean-up (queue deletion) is done
    return svc.get(job_id)


def queues(prefix: str) -> list[str]:
    return boto3.client("sqs").list_queues(QueueNamePrefix=prefix).get("QueueUrls") or []


def test_a_job_gets_its_own_queues_which_go_when_it_ends_while_its_record_and_log_stay(tmp_path, aws):
    folder = tmp_path / "jobs"
    shutil.copytree(FIXTURE, folder)
    svc = service(folder, aws)
    out, hold = folder / "results", tmp_path / "hold"
    hold.touch()  # the job cannot end (and drop its queues) before the test has seen them
    job = svc.submit(json.dumps({"workers": 2, "item_list": {"items": list(range(12)), "batch_size": 2},
                                 "config": {"out": str(out), "sleep": 0.3, "hold_on": 0,
                                            "hold": str(hold)}}).encode())
    job_id = job["job_id"]
    assert job["queue"] == f"sqs://mlserve-t-serving-squares-{job_id}.fifo"
    sqs = boto3.client("sqs")
    deadline = time.monotonic() + 30  # while it runs: its queue and its dead-letter queue exist
    while len(queues(f"mlserve-t-serving-squares-{job_id}")) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    hold.unlink()
    record = wait(svc, job_id)
    assert record["status"] == "succeeded", record
    assert (record["batches_total"], record["batches_succeeded"], record["batches_failed"]) == (6, 6, 0)
    items = {}
    for f in (out / job_id).glob("0*.json"):
        items.update(json.loads(f.read_text()))
    assert sorted(int(k) for k in items) == list(range(12))
    assert len((out / job_id / "complete.log").read_text().splitlines()) == 1  # on_job_complete once
    assert queues(f"mlserve-t-serving-squares-{job_id}") == []  # both queues went with the job
    with pytest.raises(botocore.exceptions.ClientError):
        sqs.get_queue_url(QueueName=f"mlserve-t-serving-squares-{job_id}.fifo")
    # A new service (a restarted pod) reads the same records and the job's log from S3.
    again = service(folder, aws)
    assert again.get(job_id)["status"] == "succeeded"
    assert [r["job_id"] for r in again.store.all()] == [job_id]
    log = again.store.read_log(job_id)
    assert any("enqueued 6 batches" in line for line in log) and any("ended succeeded" in line for line in log)
    assert all(f"job {job_id}" in line for line in log)


def test_a_failing_batch_lands_in_the_jobs_dead_letter_queue_and_the_job_completes_with_failures(tmp_path, aws):
    folder = tmp_path / "jobs"
    shutil.copytree(FIXTURE, folder)
    svc = service(folder, aws)
    job_id = svc.submit(json.dumps({"item_list": {"items": list(range(6)), "batch_size": 3},
                                    "retry": {"max_attempts": 2},
                                    "config": {"out": str(folder / "results"), "fail_on": 4}}).encode())["job_id"]
    record = wait(svc, job_id)
    assert record["status"] == "completed_with_failures", record
    assert record["message"] == "1 batches in the dead-letter store" and record["batches_succeeded"] == 1
    assert queues(f"mlserve-t-serving-squares-{job_id}") == []


def test_on_job_complete_is_claimed_once_across_stores(aws):
    url = f"s3://{aws}/serving/squares"
    first, second = open_store(url), open_store(url)
    assert first.claim_completion("j1") is True
    assert second.claim_completion("j1") is False and first.claim_completion("j1") is False
    assert first.completion_error("j1") is None
    second.completion_failed("j1", "ValueError: boom")
    assert first.completion_error("j1") == "ValueError: boom"


def test_deploy_makes_the_records_bucket_and_delete_removes_unfinished_jobs_queues_and_keeps_records(
        tmp_path, aws, moto_url):
    env = Environment(name="t", provider="kubernetes", registry="r/t", namespace="serving", region="us-east-1",
                      aws_endpoint_url=moto_url, async_bucket=f"{aws}-deployed")
    folder = tmp_path / "jobs"
    shutil.copytree(FIXTURE, folder)
    said: list[str] = []
    provision(load_project(folder / "cortex.yaml").entry("squares"), env, said.append)
    assert said == [f"squares: created S3 bucket {aws}-deployed for its job records"]
    store = open_store(f"s3://{aws}-deployed/serving/squares", "mlserve-t-serving-squares")
    store.new_queue("j1", max_receives=4)
    store.new_queue("j2", max_receives=4)
    said.clear()
    deprovision("squares", env, said.append)
    assert queues("mlserve-t-serving-squares-") == []
    assert said == ["squares: deleted the 4 SQS queue(s) of its unfinished jobs",
                    f"squares: kept its job records in s3://{aws}-deployed/serving/squares/"]
