"""The cluster's work queue: an SQS FIFO queue (`sqs://NAME.fifo`) and its dead-letter queue.

The deploy creates both (`create_queues`) and `mlserve delete` removes them (`delete_queues`);
opening a queue never creates one, so a worker with a wrong name fails instead of waiting on an
empty queue of its own.

Why FIFO: `put` must be idempotent per id. A FIFO queue drops a message whose
MessageDeduplicationId (the item id) it saw in the last 5 minutes, which covers a gateway that
retries a send it is unsure of; the gateway makes every id itself, so a client never re-sends one
later than that. Each item is its own MessageGroupId: FIFO holds back the rest of a group while
one message of it is in flight, and one-item groups keep every worker busy.

How SQS differs from the embedded queue, and what is done about it:
- a receipt handle (the lease token) stays usable after its visibility ran out: SQS would renew or
  delete with it even after another worker received the item. So this queue keeps each lease's
  deadline (measured from before the receive, so earlier than SQS's) and raises LeaseLost past it,
  exactly as the embedded queue does; LeaseLost is also what SQS's own stale-handle errors become;
- visibility is whole seconds (rounded up; a lease shorter than 1 s still hides the item for 1 s);
- the age of the oldest waiting item cannot be read without receiving it (which counts as a
  delivery), so it is CloudWatch's ApproximateAgeOfOldestMessage, or None until AWS published it;
- `dead()` peeks at the dead-letter queue (up to `limit` messages, not an exact newest-first list),
  and `drop()` purges, which AWS carries out within 60 s.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from datetime import UTC, datetime, timedelta

from mlserve.errors import LeaseLost, MlserveError, QueueError
from mlserve.queues.aws import call, client, error_code
from mlserve.queues.base import DeadItem, Lease, QueueCounts

LONGEST_POLL_S = 20  # SQS's limit on one receive's wait
# SQS's answers to a handle whose message is no longer this receiver's.
_STALE = ("ReceiptHandleIsInvalid", "AWS.SimpleQueueService.MessageNotInflight", "MessageNotInflight",
          "InvalidParameterValue")
_MISSING = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def dead_letter_name(name: str) -> str:
    return name.removesuffix(".fifo") + "-dead.fifo"


def create_queues(sqs, name: str, *, max_receives: int, error: type[MlserveError] = QueueError) -> None:
    """The queue `name` (FIFO) and its dead-letter queue: SQS moves an item there by itself after
    `max_receives` deliveries (workers that keep dying on it), with no error recorded."""
    import json

    attributes = {"FifoQueue": "true"}
    dead = call(f"creating SQS queue {dead_letter_name(name)}", sqs.create_queue,
                QueueName=dead_letter_name(name), Attributes=attributes, error=error)["QueueUrl"]
    arn = call("reading its ARN", sqs.get_queue_attributes, QueueUrl=dead, AttributeNames=["QueueArn"],
               error=error)["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": str(max_receives)})
    url = call(f"creating SQS queue {name}", sqs.create_queue, QueueName=name, Attributes=attributes,
               error=error)["QueueUrl"]
    # create_queue does not change an existing queue's attributes: set the redrive policy every time.
    call(f"setting the redrive policy of {name}", sqs.set_queue_attributes, QueueUrl=url,
         Attributes={"RedrivePolicy": redrive}, error=error)


def delete_queues(sqs, name: str, *, error: type[MlserveError] = QueueError) -> list[str]:
    """Delete the queue and its dead-letter queue; the names of those that existed."""
    gone = []
    for queue in (name, dead_letter_name(name)):
        url = queue_url(sqs, queue, error=error)
        if url is not None:
            call(f"deleting SQS queue {queue}", sqs.delete_queue, QueueUrl=url, error=error)
            gone.append(queue)
    return gone


def queue_url(sqs, name: str, *, error: type[MlserveError] = QueueError) -> str | None:
    """The URL of queue `name`; None where it does not exist."""
    import botocore.exceptions

    def lookup() -> str | None:
        try:
            return sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except botocore.exceptions.ClientError as e:
            if error_code(e) in _MISSING:
                return None
            raise
    return call(f"finding SQS queue {name}", lookup, error=error)


class SqsQueue:
    def __init__(self, name: str, settings=None) -> None:
        if not name.endswith(".fifo"):
            raise QueueError(f"SQS queue {name!r} is not a FIFO queue", hint="use sqs://NAME.fifo")
        self.name = name
        self._sqs = client("sqs", settings)
        self._settings = settings
        self._url = self._queue_url(name)
        self._dead_url = self._queue_url(dead_letter_name(name))
        self._deadlines: dict[str, float] = {}  # receipt handle -> monotonic time its lease runs out
        self._lock = threading.Lock()

    def _queue_url(self, name: str) -> str:
        url = queue_url(self._sqs, name)
        if url is None:
            raise QueueError(f"SQS queue {name} does not exist",
                             hint="deploy the API again (the deploy creates its queues)")
        return url

    def _call(self, what: str, fn, **kwargs):
        return call(f"SQS queue {self.name}: {what}", fn, **kwargs)

    def put(self, item_id: str, body: bytes) -> None:
        self._call("sending", self._sqs.send_message, QueueUrl=self._url, MessageBody=_text(body),
                   MessageGroupId=item_id, MessageDeduplicationId=item_id,
                   MessageAttributes={"id": {"DataType": "String", "StringValue": item_id}})

    def lease(self, visibility_s: float, wait_s: float = 0.0) -> Lease | None:
        deadline = time.monotonic() + wait_s
        while True:
            started = time.monotonic()
            poll = max(0, min(LONGEST_POLL_S, math.ceil(deadline - started)))
            got = self._call("receiving", self._sqs.receive_message, QueueUrl=self._url, MaxNumberOfMessages=1,
                             VisibilityTimeout=max(1, math.ceil(visibility_s)), WaitTimeSeconds=poll,
                             AttributeNames=["ApproximateReceiveCount"],
                             MessageAttributeNames=["id"]).get("Messages") or []
            if got:
                m = got[0]
                with self._lock:
                    self._deadlines[m["ReceiptHandle"]] = started + visibility_s
                return Lease(item_id=m["MessageAttributes"]["id"]["StringValue"], body=_bytes(m["Body"]),
                             attempt=int(m["Attributes"]["ApproximateReceiveCount"]), token=m["ReceiptHandle"])
            if time.monotonic() >= deadline:
                return None

    def _held(self, lease: Lease, what: str, fn, **kwargs) -> None:
        """Run `fn` on the lease's handle while the lease holds; LeaseLost past its deadline, or
        where SQS says the handle is stale."""
        import botocore.exceptions

        with self._lock:
            deadline = self._deadlines.get(lease.token)
        if deadline is not None and time.monotonic() >= deadline:  # kept: it stays lost (lost leases are rare)
            raise LeaseLost(f"cannot {what} item {lease.item_id}: its lease ran out",
                            hint="renew the lease more often than its visibility timeout")

        def run() -> None:
            try:
                fn(QueueUrl=self._url, ReceiptHandle=lease.token, **kwargs)
            except botocore.exceptions.ClientError as e:
                if error_code(e) not in _STALE:
                    raise
                raise LeaseLost(f"cannot {what} item {lease.item_id}: SQS says its lease ran out ({error_code(e)})",
                                hint="renew the lease more often than its visibility timeout") from None
        self._call(what, run)

    def _forget(self, lease: Lease) -> None:
        with self._lock:
            self._deadlines.pop(lease.token, None)

    def renew(self, lease: Lease, visibility_s: float) -> None:
        started = time.monotonic()
        self._held(lease, "renew", self._sqs.change_message_visibility, VisibilityTimeout=max(1, math.ceil(visibility_s)))
        with self._lock:
            self._deadlines[lease.token] = started + visibility_s

    def ack(self, lease: Lease) -> None:
        self._held(lease, "acknowledge", self._sqs.delete_message)
        self._forget(lease)

    def release(self, lease: Lease, delay_s: float = 0.0) -> None:
        self._held(lease, "release", self._sqs.change_message_visibility, VisibilityTimeout=math.ceil(delay_s))
        self._forget(lease)

    def dead_letter(self, lease: Lease, error: str) -> None:
        attributes = {"id": lease.item_id, "error": error or "-", "attempts": str(lease.attempt), "at": repr(time.time())}
        self._call("dead-lettering", self._sqs.send_message, QueueUrl=self._dead_url, MessageBody=_text(lease.body),
                   MessageGroupId=lease.item_id, MessageDeduplicationId=lease.item_id,
                   MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()})
        self._call("removing a dead letter", self._sqs.delete_message, QueueUrl=self._url, ReceiptHandle=lease.token)
        self._forget(lease)

    def dead(self, limit: int = 20) -> list[DeadItem]:
        found: dict[str, DeadItem] = {}
        for _ in range(max(1, math.ceil(limit / 10))):
            # Visibility 0: a peek that leaves them where they are.
            got = self._call("reading dead letters", self._sqs.receive_message, QueueUrl=self._dead_url,
                             MaxNumberOfMessages=min(10, limit), VisibilityTimeout=0, WaitTimeSeconds=0,
                             AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages") or []
            new = [_dead_item(m) for m in got]
            new = [d for d in new if d.item_id not in found]
            if not new:
                break
            found.update((d.item_id, d) for d in new)
        return sorted(found.values(), key=lambda d: d.at, reverse=True)[:limit]

    def counts(self) -> QueueCounts:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed"]
        main = self._call("counting", self._sqs.get_queue_attributes, QueueUrl=self._url, AttributeNames=names)
        dead = self._call("counting dead letters", self._sqs.get_queue_attributes, QueueUrl=self._dead_url,
                          AttributeNames=names)
        waiting, in_flight, delayed = (int(main["Attributes"].get(n, 0)) for n in names)
        empty = waiting + in_flight + delayed == 0
        return QueueCounts(waiting=waiting + delayed, in_flight=in_flight,
                           dead=sum(int(dead["Attributes"].get(n, 0)) for n in names),
                           oldest_age_s=None if empty else self._oldest_age())

    def _oldest_age(self) -> float | None:
        """CloudWatch's latest ApproximateAgeOfOldestMessage of this queue (AWS publishes it each
        minute); None where there is none yet or it cannot be read: the age is information, never a
        reason for `counts` to fail."""
        import botocore.exceptions

        now = datetime.now(UTC)
        try:
            points = client("cloudwatch", self._settings).get_metric_statistics(
                Namespace="AWS/SQS", MetricName="ApproximateAgeOfOldestMessage",
                Dimensions=[{"Name": "QueueName", "Value": self.name}], StartTime=now - timedelta(minutes=5),
                EndTime=now + timedelta(minutes=1), Period=60, Statistics=["Maximum"])["Datapoints"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, QueueError):
            return None
        if not points:
            return None
        latest = max(points, key=lambda p: p["Timestamp"])
        return float(latest["Maximum"])

    def drop(self) -> None:
        for url in (self._url, self._dead_url):
            self._call("purging", _purge, sqs=self._sqs, url=url)


def _purge(sqs, url: str) -> None:
    import botocore.exceptions

    try:
        sqs.purge_queue(QueueUrl=url)
    except botocore.exceptions.ClientError as e:
        if "PurgeQueueInProgress" not in error_code(e):  # one purge a minute: one is under way
            raise


def _text(body: bytes) -> str:
    # SQS bodies are text with a restricted character set; base64 carries any bytes.
    return base64.b64encode(body).decode("ascii")


def _bytes(text: str) -> bytes:
    return base64.b64decode(text)


def _dead_item(m: dict) -> DeadItem:
    attrs = {k: v.get("StringValue", "") for k, v in (m.get("MessageAttributes") or {}).items()}
    sent = int(m["Attributes"].get("SentTimestamp", "0")) / 1000
    return DeadItem(item_id=attrs.get("id") or m["MessageId"], body=_bytes(m["Body"]),
                    attempts=int(attrs.get("attempts") or m["Attributes"].get("ApproximateReceiveCount", 0)),
                    # Without our attributes SQS moved it by itself: the redrive policy's receive count.
                    error=attrs.get("error") or "delivered too many times without completing (the queue's redrive policy)",
                    at=float(attrs.get("at") or sent))
