"""A job API's jobs on a cluster: records in S3, one SQS FIFO queue (and dead-letter queue) per job.

    s3://BUCKET/PREFIX/<job>.json           the job's record (and __index__.json, every job id)
    s3://BUCKET/PREFIX/logs/<job>.log       the job service's lines about the job, then its pods' logs
    s3://BUCKET/PREFIX/complete/<job>       taken (a conditional write) by the worker that runs on_job_complete
    sqs://<queue prefix>-<job>.fifo         its batches while it runs; deleted when it ends

The records outlive the job service's pod, its Deployment's rollouts and the job's Kubernetes Job,
so a restarted service takes its jobs up again and `GET ?jobID=` answers after the job is gone.
AWS is reached with the pod's own settings (AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, credentials).
"""

from __future__ import annotations

import threading

from mlserve.jobs.store import JobStore
from mlserve.queues import WorkQueue, open_queue, open_results
from mlserve.queues.aws import call, client, error_code
from mlserve.queues.names import fifo_name
from mlserve.queues.s3 import parse
from mlserve.queues.sqs import create_queues, delete_queues


class S3JobStore(JobStore):
    def __init__(self, url: str, queue_prefix: str = "") -> None:  # not super().__init__: that is the local layout
        self.url, self.queue_prefix = url, queue_prefix
        self.bucket, self.prefix = parse(url.removeprefix("s3://"))
        self.folder = None  # type: ignore[assignment]  # no local folder: what `open_store` callers test
        self.location = url
        self.records = open_results(url)
        self._s3 = client("s3")
        self._index_lock = threading.Lock()
        self._log_lock = threading.Lock()

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def queue_name(self, job_id: str) -> str:
        return fifo_name(f"{self.queue_prefix}-{job_id}")

    def queue_url(self, job_id: str) -> str:
        return f"sqs://{self.queue_name(job_id)}"

    def new_queue(self, job_id: str, max_receives: int) -> WorkQueue:
        create_queues(client("sqs"), self.queue_name(job_id), max_receives=max_receives)
        return open_queue(self.queue_url(job_id))

    def drop_queue(self, job_id: str) -> None:
        delete_queues(client("sqs"), self.queue_name(job_id))

    def _read(self, key: str) -> str | None:
        import botocore.exceptions

        def read() -> str | None:
            try:
                return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()
            except botocore.exceptions.ClientError as e:
                if error_code(e) in ("NoSuchKey", "404"):
                    return None
                raise
        return call(f"reading s3://{self.bucket}/{key}", read)

    def _write(self, key: str, text: str) -> None:
        call(f"writing s3://{self.bucket}/{key}", self._s3.put_object, Bucket=self.bucket, Key=key,
             Body=text.encode())

    def append_log(self, job_id: str, lines: list[str]) -> None:
        # S3 has no append: the log is rewritten. Only the job service writes it, a few lines at a time.
        key = self._key("logs", f"{job_id}.log")
        with self._log_lock:
            self._write(key, (self._read(key) or "") + "".join(line + "\n" for line in lines))

    def read_log(self, job_id: str) -> list[str]:
        return (self._read(self._key("logs", f"{job_id}.log")) or "").splitlines()

    def claim_completion(self, job_id: str) -> bool:
        import botocore.exceptions

        def claim() -> bool:
            try:  # If-None-Match: *: S3 refuses the write where the object exists, so one worker wins
                self._s3.put_object(Bucket=self.bucket, Key=self._key("complete", job_id), Body=b"",
                                    IfNoneMatch="*")
                return True
            except botocore.exceptions.ClientError as e:
                if error_code(e) in ("PreconditionFailed", "ConditionalRequestConflict"):
                    return False
                raise
        return call(f"claiming on_job_complete of job {job_id}", claim)

    def completion_failed(self, job_id: str, error: str) -> None:
        self._write(self._key("complete", job_id), error)

    def completion_error(self, job_id: str) -> str | None:
        return self._read(self._key("complete", job_id)) or None
