"""Durable work queues and result records, for the kinds that answer later (AsyncAPI, jobs).

A queue hands out *leases*: an item stays in the queue while a worker holds it, becomes visible
again if the lease runs out (the worker died), and leaves only when the worker acknowledges it.
Delivery is therefore at least once; `Lease.attempt` counts deliveries so that a worker can give
up on an item that keeps killing workers (`dead_letter`).

Backends are chosen by URL, so a process learns where its queue is from one setting:
- `sqlite:///abs/path.db`: local, embedded (sqlite.py); queue and records share one file;
- `sqs://NAME` and `s3://BUCKET/PREFIX`: on a cluster (sqs.py, s3.py), through boto3.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlserve.errors import QueueError
from mlserve.queues.base import DeadItem, Lease, QueueCounts, ResultStore, WorkQueue

__all__ = ["DeadItem", "Lease", "QueueCounts", "ResultStore", "WorkQueue", "open_queue", "open_results"]


def open_queue(url: str, aws: Mapping[str, str] | None = None) -> WorkQueue:
    """The work queue at `url` (see the module docstring for the schemes); `aws`: the AWS settings
    to reach an sqs:// queue with (queues/aws.py), else this process's own."""
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite":
        from mlserve.queues.sqlite import SqliteQueue

        return SqliteQueue(rest)
    if scheme == "sqs":
        from mlserve.queues.sqs import SqsQueue

        return SqsQueue(rest, aws)
    raise QueueError(f"unknown work queue {url!r}", hint="use sqlite:///path/to/file.db or sqs://NAME.fifo")


def open_results(url: str, aws: Mapping[str, str] | None = None) -> ResultStore:
    """The result store at `url`."""
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite":
        from mlserve.queues.sqlite import SqliteResults

        return SqliteResults(rest)
    if scheme == "s3":
        from mlserve.queues.s3 import S3Results

        return S3Results(rest, aws)
    raise QueueError(f"unknown result store {url!r}", hint="use sqlite:///path/to/file.db or s3://BUCKET/PREFIX")
