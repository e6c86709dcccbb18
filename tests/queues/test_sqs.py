"""What the SQS + S3 backends do beyond the shared contract (test_queue.py), on a real AWS emulator."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from mlserve.errors import LeaseLost, QueueError
from mlserve.queues import open_queue, open_results
from mlserve.queues.aws import client
from mlserve.queues.s3 import ensure_bucket
from mlserve.queues.sqs import create_queues, delete_queues
from tests.queues.conftest import AWS


@pytest.fixture
def aws(moto_url, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    for key, value in AWS.items():
        monkeypatch.setenv(key, value)
    return moto_url


def fresh(max_receives: int = 5) -> str:
    name = f"sqs-{uuid.uuid4().hex[:12]}.fifo"
    create_queues(client("sqs"), name, max_receives=max_receives)
    return name


def test_a_queue_is_never_created_by_opening_it(aws):
    with pytest.raises(QueueError, match="does not exist") as err:
        open_queue("sqs://nobody-made-this.fifo")
    assert "deploy" in err.value.hint
    with pytest.raises(QueueError, match="FIFO"):
        open_queue("sqs://not-fifo")


def test_a_stale_receipt_handle_is_refused_although_sqs_would_take_it(aws):
    # SQS (and its emulator) still renew and delete with a handle whose visibility ran out; the queue
    # refuses it itself, so a worker that lost its lease cannot delete the item another one runs.
    name = fresh()
    q = open_queue(f"sqs://{name}")
    q.put("a", b"x")
    first = q.lease(visibility_s=1)
    second = q.lease(visibility_s=60, wait_s=10)
    assert second.item_id == "a" and second.attempt == 2
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first.token, VisibilityTimeout=60)  # accepted
    with pytest.raises(LeaseLost):
        q.renew(first, 60)
    with pytest.raises(LeaseLost):
        q.ack(first)
    assert q.counts().in_flight == 1  # the second worker's item is still there
    q.ack(second)


def test_any_bytes_survive_the_round_trip(aws):
    q = open_queue(f"sqs://{fresh()}")
    body = bytes(range(256))
    q.put("bin", body)
    assert q.lease(visibility_s=30).body == body


def test_sqs_moves_an_item_that_keeps_failing_to_the_dead_letters_by_itself(aws):
    # A worker that dies on every try never calls dead_letter: the redrive policy does it.
    q = open_queue(f"sqs://{fresh(max_receives=2)}")
    q.put("poison", b"{}")
    for attempt in (1, 2):
        lease = q.lease(visibility_s=1, wait_s=10)
        assert (lease.item_id, lease.attempt) == ("poison", attempt)
    assert q.lease(visibility_s=1, wait_s=3) is None  # the third receive moved it instead
    [dead] = q.dead()
    assert dead.item_id == "poison" and "redrive" in dead.error
    assert q.counts().dead == 1


def test_the_oldest_age_is_cloudwatchs_once_aws_published_it(aws):
    name = fresh()
    q = open_queue(f"sqs://{name}")
    q.put("a", b"x")
    assert q.counts().oldest_age_s is None  # waiting, but no datapoint yet
    client("cloudwatch").put_metric_data(Namespace="AWS/SQS", MetricData=[{
        "MetricName": "ApproximateAgeOfOldestMessage", "Dimensions": [{"Name": "QueueName", "Value": name}],
        "Timestamp": datetime.now(UTC), "Value": 42.0, "Unit": "Seconds"}])
    assert q.counts().oldest_age_s == 42.0


def test_deleting_the_queues_and_an_expired_prefix(aws):
    name = fresh()
    assert delete_queues(client("sqs"), name) == [name, name.replace(".fifo", "-dead.fifo")]
    assert delete_queues(client("sqs"), name) == []  # gone already: nothing to do
    with pytest.raises(QueueError, match="does not exist"):
        open_queue(f"sqs://{name}")
    ensure_bucket(client("s3"), "expiry", "us-east-1")
    store = open_results("s3://expiry/api-a")
    other = open_results("s3://expiry/api-b")
    store.put("x", {"status": "completed"})
    other.put("x", {"status": "completed"})
    time.sleep(1.1)  # LastModified has whole seconds
    assert store.expire(older_than_s=0.5) == 1
    assert store.get("x") is None and other.get("x") == {"status": "completed"}  # only its own prefix


def test_results_of_a_missing_bucket_are_a_clear_error(aws):
    with pytest.raises(QueueError, match="s3://no-such-bucket"):
        open_results("s3://no-such-bucket/p").put("x", {})
