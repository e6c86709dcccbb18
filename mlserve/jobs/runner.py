"""One job, run by the job service: enqueue its batches, supervise its workers, keep its record.

The record (store.py) says where the job is: enqueuing -> running -> succeeded |
completed_with_failures | failed | stopped | timed_out. Where the workers run is the placement's
business (processes.py locally, kube_workers.py as a Kubernetes Job); this module decides the
job's status from the queue's counts and what the workers report. A stop or the timeout ends every
worker; after the end the job's queue goes (on a cluster) and its record stays.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Protocol

from mlserve.jobs.store import JobStore

log = logging.getLogger("mlserve.jobs")
TICK_S = 0.25

# What `Workers.check` reports once the workers are done: ("done", note) — they finished (a note
# makes a batch job completed_with_failures) — or a terminal status with its reason.
Outcome = tuple[str, str | None]


class Workers(Protocol):
    def start(self, resuming: bool) -> None:
        """Start the job's workers (`resuming`: after a restart of the job service)."""

    def check(self, drained: bool) -> Outcome | None:
        """None while the workers run; `drained`: no batch is left in the queue."""

    def stop(self) -> None:
        """End every worker (and keep what they logged)."""


class Placement(Protocol):
    """Where a job service runs its jobs' workers."""

    survives_restart: bool  # whether a job's workers outlive the job service (a task can be resumed)

    def workers(self, run: JobRun) -> Workers: ...

    def live_log(self, job_id: str) -> list[str]:
        """What the job's running workers printed so far, not yet in the store's log."""


class JobRun:
    def __init__(self, store: JobStore, record: dict, spec: Path, api: str, batches: list[list] | None,
                 placement: Placement, *, resuming: bool = False) -> None:
        self.store, self.record, self.spec, self.api = store, record, spec, api
        self.batches = batches  # None for a task, and when resuming: the queue holds what is left
        self.resuming = resuming
        self.job_id = record["job_id"]
        self.stop_requested = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"job-{self.job_id}", daemon=True)
        self._log_lock = threading.Lock()
        self.workers = placement.workers(self)

    # -- logging ----------------------------------------------------------------------------

    def note(self, message: str, source: str = "job") -> None:
        self.notes([message], source)

    def notes(self, messages: list[str], source: str = "job") -> None:
        stamp = time.strftime('%Y-%m-%d %H:%M:%S')
        with self._log_lock:
            self.store.append_log(self.job_id, [f"{stamp} job {self.job_id} [{source}] {m}" for m in messages])
        for m in messages:
            log.info("job %s [%s] %s", self.job_id, source, m)

    # -- the job ----------------------------------------------------------------------------

    def save(self, **changes: object) -> None:
        self.record.update(changes)
        self.store.save(self.record)

    def _enqueue(self) -> None:
        retry = self.record["submission"].get("retry") or {}
        # SQS moves a batch to the dead letters by itself one delivery after the workers would.
        queue = self.store.new_queue(self.job_id, max_receives=retry.get("max_attempts", 3) + 1)
        assert self.batches is not None
        for i, items in enumerate(self.batches):
            batch_id = f"{i:06d}"
            queue.put(batch_id, json.dumps({"batch_id": batch_id, "items": items}).encode())
        self.note(f"enqueued {len(self.batches)} batches")

    def _progress(self) -> tuple[bool, int]:
        """(whether no batch is left, how many are dead), with the record's counts brought up to date."""
        if self.record["kind"] == "TaskAPI":
            return False, 0
        counts = self.store.queue_of(self.record).counts()
        total = self.record["batches_total"]
        succeeded = total - counts.waiting - counts.in_flight - counts.dead
        if (succeeded, counts.dead) != (self.record["batches_succeeded"], self.record["batches_failed"]):
            self.save(batches_succeeded=succeeded, batches_failed=counts.dead)
        return counts.waiting + counts.in_flight == 0, counts.dead

    def _end(self, status: str, message: str | None = None) -> None:
        try:
            self.workers.stop()
            self._progress()
        finally:
            self.save(status=status, end_time=time.time(), worker_pids=[], message=message)
            self.note(f"ended {status}" + (f": {message}" if message else ""))
            if self.record["kind"] != "TaskAPI":
                self.store.drop_queue(self.job_id)

    def _run(self) -> None:
        try:
            if self.record["status"] == "enqueuing" and self.batches is not None:
                self._enqueue()
            self.save(status="running", start_time=self.record.get("start_time") or time.time())
            self.workers.start(self.resuming)
            self._supervise()
        except Exception as e:  # the job service itself failed: say so rather than run forever
            log.exception("job %s: the job service failed", self.job_id)
            self._end("failed", f"the job service failed: {type(e).__name__}: {e}")

    def _supervise(self) -> None:
        deadline = self.record.get("timeout") and self.record["start_time"] + self.record["timeout"]
        while True:
            if self.stop_requested.wait(TICK_S):
                return self._end("stopped", "stopped on request")
            if deadline and time.time() > deadline:
                return self._end("timed_out", f"ran past its timeout of {self.record['timeout']:g}s")
            drained, dead = self._progress()
            outcome = self.workers.check(drained)
            if outcome is None:
                continue
            verdict, note = outcome
            if verdict != "done":
                return self._end(verdict, note)
            if self.record["kind"] == "TaskAPI":
                return self._end("succeeded")
            failed_completion = self.store.completion_error(self.job_id)
            if dead or note or failed_completion:
                return self._end("completed_with_failures",
                                 f"{dead} batches in the dead-letter store" if dead
                                 else f"on_job_complete failed: {failed_completion}" if failed_completion
                                 else note)
            return self._end("succeeded")
