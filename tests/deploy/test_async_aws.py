"""An AsyncAPI's queues and results bucket, made by the deploy and removed by delete (real AWS emulator)."""

from __future__ import annotations

import json

import boto3
import pytest

from mlserve.deploy.async_aws import deprovision, provision
from mlserve.deploy.environments import Environment
from mlserve.deploy.render import render_manifests
from mlserve.errors import DeployError
from mlserve.queues import open_queue, open_results
from tests.deploy.test_async_manifests import ASYNC, project
from tests.queues.conftest import AWS


@pytest.fixture
def env(moto_url, monkeypatch, request):
    for key, value in AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    return Environment(name=f"t{abs(hash(request.node.name)) % 10**6}", provider="kubernetes", registry="r/t",
                       namespace="serving", region="us-east-1", aws_endpoint_url=moto_url)


def test_deploy_makes_the_queues_the_bucket_and_an_expiry_rule_and_again_changes_nothing(tmp_path, env):
    api = project(tmp_path, ASYNC.replace("queue: {max_attempts: 2}", "queue: {max_attempts: 2, result_ttl: 36h}")
                  ).api("story")
    messages: list[str] = []
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=f"mlserve-async-{env.name}")
    s3.put_bucket_lifecycle_configuration(Bucket=f"mlserve-async-{env.name}", LifecycleConfiguration={"Rules": [
        {"ID": "someone-elses", "Filter": {"Prefix": "other/"}, "Status": "Enabled", "Expiration": {"Days": 9}}]})
    for _ in range(2):
        provision(api, env, messages.append)
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=f"mlserve-{env.name}-serving-story.fifo")["QueueUrl"]
    redrive = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
                         ["Attributes"]["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 3  # the worker fails the item on delivery 3 itself
    assert redrive["deadLetterTargetArn"].endswith(f"mlserve-{env.name}-serving-story-dead.fifo")
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=f"mlserve-async-{env.name}")["Rules"]}
    assert set(rules) == {"someone-elses", "mlserve-serving/story"}
    assert rules["mlserve-serving/story"]["Expiration"] == {"Days": 2}  # 36h, in whole days
    # What the pods are given opens: the queue and the store exist.
    objects = render_manifests(project(tmp_path), env)
    worker = next(o for o in objects if o["metadata"]["name"] == "story-worker")
    stores = {e["name"]: e["value"] for e in worker["spec"]["template"]["spec"]["containers"][0]["env"]}
    open_queue(stores["MLSERVE_ASYNC_QUEUE"]).put("a", b"{}")
    open_results(stores["MLSERVE_ASYNC_RESULTS"]).put("a", {"status": "completed"})

    messages.clear()
    deprovision("story", objects, env, messages.append)
    assert messages == [
        f"story: deleted SQS queues mlserve-{env.name}-serving-story.fifo, mlserve-{env.name}-serving-story-dead.fifo",
        f"story: kept its 1 result(s) in s3://mlserve-async-{env.name}/serving/story/ until they expire "
        "(the bucket's lifecycle rule mlserve-serving/story)"]
    assert open_results(stores["MLSERVE_ASYNC_RESULTS"]).get("a") == {"status": "completed"}
    with pytest.raises(Exception, match="does not exist"):
        open_queue(stores["MLSERVE_ASYNC_QUEUE"])
    messages.clear()
    deprovision("story", objects, env, messages.append)  # a second delete: nothing left to remove
    assert messages[0] == "story: its SQS queues were already gone"


def test_an_environment_without_a_region_is_told_to_set_one(tmp_path, env):
    api = project(tmp_path).api("story")
    with pytest.raises(DeployError, match="needs an AWS region") as err:
        provision(api, env.model_copy(update=dict(region=None)), print)
    assert "--region" in err.value.hint
