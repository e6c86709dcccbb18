"""One job, run by the job service: enqueue its batches, supervise its workers, keep its record.

The record (store.py) says where the job is: enqueuing -> running -> succeeded |
completed_with_failures | failed | stopped | timed_out. Workers whose exit was not clean are
replaced while batches are left (their leased batch is delivered again), up to `RESPAWNS_PER_WORKER`
each; a stop or the timeout ends every worker (SIGTERM, then SIGKILL after `STOP_GRACE_S`).
Every line a worker prints goes to the job's log prefixed with the job id and the worker.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from mlserve.jobs.store import JobStore

log = logging.getLogger("mlserve.jobs")
RESPAWNS_PER_WORKER = 3
STOP_GRACE_S = 3.0
TICK_S = 0.25


class JobRun:
    def __init__(self, store: JobStore, record: dict, spec: Path, api: str, batches: list[list] | None) -> None:
        self.store, self.record, self.spec, self.api = store, record, spec, api
        self.batches = batches  # None when resuming: the queue holds what is left
        self.job_id = record["job_id"]
        self.stop_requested = threading.Event()
        self.workers: list[subprocess.Popen] = []
        self.respawns = 0
        self.thread = threading.Thread(target=self._run, name=f"job-{self.job_id}", daemon=True)
        self._log_lock = threading.Lock()

    # -- logging ----------------------------------------------------------------------------

    def note(self, message: str, source: str = "job") -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} job {self.job_id} [{source}] {message}"
        with self._log_lock, open(self.store.log_file(self.job_id), "a", encoding="utf-8") as f:
            f.write(line + "\n")
        log.info("job %s [%s] %s", self.job_id, source, message)

    def _pump(self, worker: subprocess.Popen, name: str) -> None:
        assert worker.stdout is not None
        for raw in iter(worker.stdout.readline, b""):
            self.note(raw.decode(errors="replace").rstrip("\n"), name)

    # -- the job ----------------------------------------------------------------------------

    def _save(self, **changes: object) -> None:
        self.record.update(changes)
        self.store.save(self.record)

    def _enqueue(self) -> None:
        queue = self.store.queue(self.job_id)
        queue.drop()  # an enqueue cut short by a restart starts over: no batch ran before `running`
        assert self.batches is not None
        for i, items in enumerate(self.batches):
            batch_id = f"{i:06d}"
            queue.put(batch_id, json.dumps({"batch_id": batch_id, "items": items}).encode())
        self.note(f"enqueued {len(self.batches)} batches")

    def _spawn(self) -> None:
        index = len(self.workers)
        worker = subprocess.Popen(
            [sys.executable, "-m", "mlserve.jobs.worker", "--spec", str(self.spec), "--api", self.api,
             "--jobs-dir", str(self.store.folder), "--job", self.job_id],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.workers.append(worker)
        threading.Thread(target=self._pump, args=(worker, f"worker {index}"), daemon=True).start()
        self.note(f"worker {index} started (pid {worker.pid})")
        self._save(worker_pids=[w.pid for w in self.workers if w.poll() is None])

    def _stop_workers(self) -> None:
        alive = [w for w in self.workers if w.poll() is None]
        for w in alive:
            w.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for w in alive:
            try:
                w.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()

    def _progress(self) -> tuple[bool, int]:
        """(whether no batch is left, how many are dead), with the record's counts brought up to date."""
        if self.record["kind"] == "TaskAPI":
            return False, 0
        counts = self.store.queue(self.job_id).counts()
        total = self.record["batches_total"]
        succeeded = total - counts.waiting - counts.in_flight - counts.dead
        if (succeeded, counts.dead) != (self.record["batches_succeeded"], self.record["batches_failed"]):
            self._save(batches_succeeded=succeeded, batches_failed=counts.dead)
        return counts.waiting + counts.in_flight == 0, counts.dead

    def _end(self, status: str, message: str | None = None) -> None:
        self._stop_workers()
        self._progress()
        self._save(status=status, end_time=time.time(), worker_pids=[], message=message)
        self.note(f"ended {status}" + (f": {message}" if message else ""))

    def _run(self) -> None:
        try:
            if self.record["status"] == "enqueuing" and self.batches is not None:
                self._enqueue()
            self._save(status="running", start_time=self.record.get("start_time") or time.time())
            self._supervise()
        except Exception as e:  # the job service itself failed: say so rather than run forever
            log.exception("job %s: the job service failed", self.job_id)
            self._end("failed", f"the job service failed: {type(e).__name__}: {e}")

    def _supervise(self) -> None:
        wanted = self.record["workers"]
        for _ in range(wanted):
            self._spawn()
        deadline = self.record.get("timeout") and self.record["start_time"] + self.record["timeout"]
        while True:
            if self.stop_requested.wait(TICK_S):
                return self._end("stopped", "stopped on request")
            if deadline and time.time() > deadline:
                return self._end("timed_out", f"ran past its timeout of {self.record['timeout']:g}s")
            drained, dead = self._progress()
            exited = [w for w in self.workers if w.poll() is not None]
            for w in exited:
                if getattr(w, "reported", False):
                    continue
                w.reported = True  # type: ignore[attr-defined]
                if w.returncode != 0:
                    self.note(f"worker pid {w.pid} exited with code {w.returncode}")
            if len(exited) < len(self.workers):
                continue
            if self.record["kind"] == "TaskAPI":
                code = self.workers[-1].returncode
                return self._end("succeeded" if code == 0 else "failed",
                                 None if code == 0 else f"the task exited with code {code} (see its log)")
            if drained:
                failed = any(w.returncode != 0 for w in self.workers[-wanted:])
                if dead or failed:
                    return self._end("completed_with_failures",
                                     f"{dead} batches in the dead-letter store" if dead
                                     else "on_job_complete failed (see the job's log)")
                return self._end("succeeded")
            if self.respawns >= RESPAWNS_PER_WORKER * wanted:
                return self._end("failed", f"its workers kept exiting ({self.respawns} replaced); see the job's log")
            self.respawns += 1
            self._spawn()
