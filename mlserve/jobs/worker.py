"""One job worker: `python -m mlserve.jobs.worker --spec S --api A --jobs-dir D --job J` (D: a folder, or
the s3:// records of a job API on a cluster: store.py open_store).

A BatchAPI worker leases batches from the job's queue until none is left: each lease is renewed
while `predict` runs (so a long batch is not redelivered), acknowledged when it returns, released
when it raises, and moved to the dead-letter store with its error on its last attempt. A batch
whose worker died is delivered again once its lease runs out: delivery is at least once, so
`predict` should write its results keyed by `batch_id` (a rerun overwrites, never duplicates).
The one worker that finds the queue drained first runs `on_job_complete`.

A TaskAPI worker runs the task once; its exit status is the job's result.
The job service starts these: locally as its child processes (a worker whose job service died
exits; its lease runs out), on a cluster as the pods of a Kubernetes Job, which outlive the service.
Exit codes: 0 done, 1 the user code failed, 3 lost its job service.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
import traceback
from pathlib import Path

from mlserve.errors import LeaseLost, MlserveError
from mlserve.jobs.location import open_store
from mlserve.jobs.store import JobStore
from mlserve.jobs.user_code import BatchPredictor, load_task
from mlserve.queues import Lease, WorkQueue
from mlserve.spec import load_project

EXIT_FAILED, EXIT_ORPHANED = 1, 3
IDLE_WAIT_S = 0.5


def _say(message: str) -> None:
    print(message, flush=True)


def _watch_parent(parent: int) -> None:
    """Exit when the job service is gone: nothing would record this worker's end."""
    while os.getppid() == parent:
        time.sleep(0.5)
    _say("the job service is gone: stopping (held batches are delivered again)")
    os._exit(EXIT_ORPHANED)


class _Renewer:
    """Keeps a lease while its batch runs; stops when the batch ends."""

    def __init__(self, queue: WorkQueue, lease: Lease, visibility: float) -> None:
        self.queue, self.lease, self.visibility = queue, lease, visibility
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(self.visibility / 3):
            try:
                self.queue.renew(self.lease, self.visibility)
            except LeaseLost:
                _say(f"batch {self.lease.item_id}: lease lost while running (it will run again elsewhere)")
                return

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def _one_batch(queue: WorkQueue, lease: Lease, predictor: BatchPredictor, retry: dict) -> None:
    batch = json.loads(lease.body)
    batch_id, attempts = batch["batch_id"], retry["max_attempts"]
    if lease.attempt > attempts:  # earlier deliveries died with their workers
        queue.dead_letter(lease, f"its worker died on each of {lease.attempt - 1} attempts")
        _say(f"batch {batch_id}: dead-lettered after {lease.attempt - 1} attempts whose workers died")
        return
    renewer = _Renewer(queue, lease, retry["visibility_timeout"])
    try:
        predictor.predict(batch["items"], batch_id)
    except Exception as e:
        error = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
        renewer.stop()
        if lease.attempt >= attempts:
            queue.dead_letter(lease, error)
            _say(f"batch {batch_id}: failed on attempt {lease.attempt}/{attempts}, dead-lettered:\n{error}")
        else:
            queue.release(lease)
            _say(f"batch {batch_id}: failed on attempt {lease.attempt}/{attempts}, retrying:\n{error}")
        return
    renewer.stop()
    try:
        queue.ack(lease)
    except LeaseLost:
        _say(f"batch {batch_id}: done, but its lease ran out first (it may run again)")
        return
    _say(f"batch {batch_id}: done (attempt {lease.attempt})")


def run_batches(store: JobStore, record: dict, predictor: BatchPredictor) -> None:
    queue = store.queue_of(record)
    retry = record["submission"]["retry"]
    while True:
        lease = queue.lease(retry["visibility_timeout"], wait_s=IDLE_WAIT_S)
        if lease is not None:
            _one_batch(queue, lease, predictor, retry)
            continue
        counts = queue.counts()
        if counts.waiting == 0 and counts.in_flight == 0:
            break
    if predictor.has_on_job_complete and store.claim_completion(record["job_id"]):
        _say("every batch is done: running on_job_complete")
        try:
            predictor.on_job_complete()
        except Exception as e:
            store.completion_failed(record["job_id"], f"{type(e).__name__}: {e}")
            raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlserve.jobs.worker")
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--api", required=True)
    parser.add_argument("--jobs-dir", required=True, help="a folder, or s3://BUCKET/PREFIX")
    parser.add_argument("--job", required=True)
    args = parser.parse_args(argv)
    # A pod's worker is PID 1, which the kernel spares SIGTERM's default: exit on it explicitly (a stopped
    # job's pods end at once; a batch held is delivered again, as after any worker's death).
    signal.signal(signal.SIGTERM, lambda *_: os._exit(128 + signal.SIGTERM))
    store = open_store(args.jobs_dir)
    if store.folder is not None:  # a local worker; a pod's worker has no job service as its parent
        threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    record = store.get(args.job)
    if record is None:
        _say(f"no job {args.job} in {args.jobs_dir}")
        return EXIT_FAILED
    project = load_project(args.spec)
    entry = project.entry(args.api)
    try:
        if record["kind"] == "TaskAPI":
            load_task(entry, project.root)(record["config"])
            _say("task done")
            return 0
        predictor = BatchPredictor(entry, project.root)
        predictor.start(record["config"], record["job_spec"])
        run_batches(store, record, predictor)
        return 0
    except MlserveError as e:
        _say(str(e))
        return EXIT_FAILED
    except Exception:
        _say(f"the job's code raised:\n{traceback.format_exc()}")
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
