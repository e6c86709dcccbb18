"""Where a job API keeps its jobs: locally `.mlserve/jobs/<api>/` (this module), on a cluster a
prefix in S3 plus one SQS queue per job (s3_store.py). `location.open_store` picks by location.

Locally:
    jobs.db          the job records (a ResultStore), which outlive the job service's restarts
    <job>.db         the job's queue of batches and its dead-letter store (a WorkQueue)
    <job>.log        the job's own log (every line names the job)
    <job>.complete   taken by the one worker that runs on_job_complete (exactly once); holds its error, if any

Queues and records are reached through `open_queue` / `open_results` only, so the same code runs
on other backends of mlserve.queues.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from mlserve.queues import ResultStore, WorkQueue, open_queue, open_results

INDEX = "__index__"  # the record listing every job id, oldest first
TERMINAL = ("succeeded", "completed_with_failures", "failed", "stopped", "timed_out")


class Records:
    """Job records and their index in a ResultStore (only the job service writes either)."""

    records: ResultStore
    _index_lock: threading.Lock

    def get(self, job_id: str) -> dict | None:
        return None if job_id == INDEX else self.records.get(job_id)

    def save(self, record: dict) -> None:
        record["updated"] = time.time()
        self.records.put(record["job_id"], record)

    def add(self, record: dict) -> None:
        """A new job: its record, then its id in the index."""
        self.save(record)
        with self._index_lock:
            ids = self.ids()
            self.records.put(INDEX, {"ids": [*ids, record["job_id"]]})

    def ids(self) -> list[str]:
        return list((self.records.get(INDEX) or {}).get("ids", []))

    def all(self) -> list[dict]:
        return [r for r in (self.get(i) for i in self.ids()) if r is not None]

    def queue_url(self, job_id: str) -> str:
        raise NotImplementedError

    def queue_of(self, record: dict) -> WorkQueue:
        """The job's queue, where its record says it is (records written before it was kept: here)."""
        return open_queue(record.get("queue") or self.queue_url(record["job_id"]))


class JobStore(Records):
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder).resolve()
        self.location = str(self.folder)  # what a worker is given (--jobs-dir)
        self.records = open_results(f"sqlite://{self.folder / 'jobs.db'}")
        self._index_lock = threading.Lock()

    def queue_url(self, job_id: str) -> str:
        return f"sqlite://{self.folder / f'{job_id}.db'}"

    def new_queue(self, job_id: str, max_receives: int) -> WorkQueue:
        """An empty queue for the job (an enqueue cut short by a restart starts over)."""
        queue = open_queue(self.queue_url(job_id))
        queue.drop()
        return queue

    def drop_queue(self, job_id: str) -> None:
        """Local queues stay with the records: they hold the dead letters."""

    def log_file(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.log"

    def append_log(self, job_id: str, lines: list[str]) -> None:
        with open(self.log_file(job_id), "a", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)

    def read_log(self, job_id: str) -> list[str]:
        path = self.log_file(job_id)
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def _completion(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.complete"

    def claim_completion(self, job_id: str) -> bool:
        """True for exactly one caller per job: that one runs on_job_complete."""
        try:
            os.close(os.open(self._completion(job_id), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return True
        except FileExistsError:
            return False

    def completion_failed(self, job_id: str, error: str) -> None:
        self._completion(job_id).write_text(error, encoding="utf-8")

    def completion_error(self, job_id: str) -> str | None:
        path = self._completion(job_id)
        return (path.read_text(encoding="utf-8") or None) if path.exists() else None

