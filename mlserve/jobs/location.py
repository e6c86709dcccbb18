"""Which job store a location names (the job service's and a worker's `--jobs-dir`)."""

from __future__ import annotations

from pathlib import Path

from mlserve.jobs.s3_store import S3JobStore
from mlserve.jobs.store import JobStore


def open_store(location: str, queue_prefix: str = "") -> JobStore:
    """The job store at `location`: a local folder, or `s3://BUCKET/PREFIX` (then each job's SQS queue
    is named `<queue_prefix>-<job id>.fifo`)."""
    if location.startswith("s3://"):
        return S3JobStore(location, queue_prefix)
    return JobStore(Path(location))
