"""Where a job API keeps its jobs (locally: `.mlserve/jobs/<api>/`).

    jobs.db          the job records (a ResultStore), which outlive the job service's restarts
    <job>.db         the job's queue of batches and its dead-letter store (a WorkQueue)
    <job>.log        the job's own log (every line names the job)
    <job>.complete   taken by the one worker that runs on_job_complete (exactly once)

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


class JobStore:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder).resolve()
        self.records: ResultStore = open_results(f"sqlite://{self.folder / 'jobs.db'}")
        self._index_lock = threading.Lock()

    def queue_url(self, job_id: str) -> str:
        return f"sqlite://{self.folder / f'{job_id}.db'}"

    def queue(self, job_id: str) -> WorkQueue:
        return open_queue(self.queue_url(job_id))

    def log_file(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.log"

    def get(self, job_id: str) -> dict | None:
        return None if job_id == INDEX else self.records.get(job_id)

    def save(self, record: dict) -> None:
        record["updated"] = time.time()
        self.records.put(record["job_id"], record)

    def add(self, record: dict) -> None:
        """A new job: its record, then its id in the index (only the job service writes either)."""
        self.save(record)
        with self._index_lock:
            ids = self.ids()
            self.records.put(INDEX, {"ids": [*ids, record["job_id"]]})

    def ids(self) -> list[str]:
        return list((self.records.get(INDEX) or {}).get("ids", []))

    def all(self) -> list[dict]:
        return [r for r in (self.get(i) for i in self.ids()) if r is not None]

    def claim_completion(self, job_id: str) -> bool:
        """True for exactly one caller per job: that one runs on_job_complete."""
        try:
            os.close(os.open(self.folder / f"{job_id}.complete", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return True
        except FileExistsError:
            return False
