"""A job's workers as local processes, supervised by the job service (runner.py).

Workers whose exit was not clean are replaced while batches are left (their leased batch is
delivered again), up to `RESPAWNS_PER_WORKER` each; a stop or the timeout ends every worker
(SIGTERM, then SIGKILL after `STOP_GRACE_S`). Every line a worker prints goes to the job's log
prefixed with the job id and the worker. They die with the job service (worker.py watches it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

from mlserve.jobs.runner import Outcome

if TYPE_CHECKING:
    from mlserve.jobs.runner import JobRun

RESPAWNS_PER_WORKER = 3
STOP_GRACE_S = 3.0


class LocalProcesses:
    survives_restart = False

    def workers(self, run: JobRun) -> Processes:
        return Processes(run)

    def live_log(self, job_id: str) -> list[str]:
        return []  # workers' lines go to the job's log as they come


class Processes:
    def __init__(self, run: JobRun) -> None:
        self.run = run
        self.procs: list[subprocess.Popen] = []
        self.reported: set[int] = set()
        self.respawns = 0

    def _pump(self, worker: subprocess.Popen, name: str) -> None:
        assert worker.stdout is not None
        for raw in iter(worker.stdout.readline, b""):
            self.run.note(raw.decode(errors="replace").rstrip("\n"), name)

    def _spawn(self) -> None:
        index, run = len(self.procs), self.run
        worker = subprocess.Popen(
            [sys.executable, "-m", "mlserve.jobs.worker", "--spec", str(run.spec), "--api", run.api,
             "--jobs-dir", run.store.location, "--job", run.job_id],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs.append(worker)
        threading.Thread(target=self._pump, args=(worker, f"worker {index}"), daemon=True).start()
        run.note(f"worker {index} started (pid {worker.pid})")
        run.save(worker_pids=[w.pid for w in self.procs if w.poll() is None])

    def start(self, resuming: bool) -> None:
        if resuming:
            self.run.note("resuming after a restart of the job service: new workers take the batches left")
        for _ in range(self.run.record["workers"]):
            self._spawn()

    def stop(self) -> None:
        alive = [w for w in self.procs if w.poll() is None]
        for w in alive:
            w.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for w in alive:
            try:
                w.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()

    def check(self, drained: bool) -> Outcome | None:
        exited = [w for w in self.procs if w.poll() is not None]
        for w in exited:
            if w.pid not in self.reported:
                self.reported.add(w.pid)
                if w.returncode != 0:
                    self.run.note(f"worker pid {w.pid} exited with code {w.returncode}")
        if len(exited) < len(self.procs):
            return None
        if self.run.record["kind"] == "TaskAPI":
            code = self.procs[-1].returncode
            return ("done", None) if code == 0 else ("failed", f"the task exited with code {code} (see its log)")
        wanted = self.run.record["workers"]
        if drained:
            failed = any(w.returncode != 0 for w in self.procs[-wanted:])
            return "done", "on_job_complete failed (see the job's log)" if failed else None
        if self.respawns >= RESPAWNS_PER_WORKER * wanted:
            return "failed", f"its workers kept exiting ({self.respawns} replaced); see the job's log"
        self.respawns += 1
        self._spawn()
        return None
