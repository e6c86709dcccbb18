"""The per-API supervisor: `python -m mlserve.deploy.local.supervisor --state-dir D --api A --port P -- CMD...`

It runs in its own session (so it outlives the CLI that started it), starts the API's runtime
command, copies its output into the API's log, marks it live once `/readyz` answers 200, restarts it
with exponential backoff when it exits, and records all of that in the API's status file. SIGTERM
stops the runtime gracefully (SIGTERM, then SIGKILL after the grace period) and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from mlserve.contract.env import INSTANCE
from mlserve.contract.status import Status
from mlserve.deploy.local.files import RotatingLog
from mlserve.deploy.local.procs import CRASH_LOOP_AFTER, MAX_BACKOFF, describe_exit, started_at
from mlserve.deploy.local.state import StateDir


class Supervisor:
    def __init__(self, state: StateDir, api: str, port: int, command: list[str], grace: float) -> None:
        self.state, self.api, self.port, self.command, self.grace = state, api, port, command, grace
        self.stopping = threading.Event()
        state.private(state.log_file(api).parent)
        self.log = RotatingLog(state.log_file(api))
        self.status: dict = {
            "api": api, "status": Status.UPDATING, "port": port,
            "supervisor_pid": os.getpid(), "supervisor_started": started_at(os.getpid()),
            "child_pid": None, "child_started": None, "restarts": 0, "consecutive_failures": 0,
            "last_exit_code": None, "ready_at": None, "errors": [],
        }

    def _update(self, note: str | None = None, *, error: bool = False, **changes: object) -> None:
        self.status.update(changes, updated_at=time.time())
        if note:
            self.log.note(note)
        if note and error:
            self.status["errors"] = (self.status["errors"] + [f"{time.strftime('%Y-%m-%d %H:%M:%S')} {note}"])[-10:]
        self.state.write_status(self.api, self.status)

    def run(self) -> int:
        self._update(f"supervisor started (pid {os.getpid()}), port {self.port}")
        try:
            while not self.stopping.is_set():
                child, pump = self._start()
                ready = self._watch(child)
                if self.stopping.is_set():
                    self._stop(child, pump)
                    break
                _kill_group(child.pid)  # leftover workers would hold the port and the log pipe
                pump.join(timeout=5)  # the runtime's last words (a traceback) reach the log first
                self._after_exit(child.returncode, ready)
            self._update("stopped", status=Status.STOPPED, child_pid=None, child_started=None)
            return 0
        except Exception:
            self._update(f"supervisor failed:\n{traceback.format_exc()}", error=True, status=Status.ERROR)
            return 1
        finally:
            self.log.close()

    def _start(self) -> tuple[subprocess.Popen, threading.Thread]:
        failing = self.status["consecutive_failures"] >= CRASH_LOOP_AFTER
        self.instance = uuid.uuid4().hex
        env = {**os.environ, "PYTHONUNBUFFERED": "1", INSTANCE: self.instance}
        # Its own process group: the whole runtime (workers included) can be killed at once.
        child = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, env=env, process_group=0)
        pump = threading.Thread(target=self._pump, args=(child,), daemon=True)
        pump.start()
        self._update(f"runtime started (pid {child.pid}): {' '.join(self.command)}",
                     status=Status.CRASH_LOOP if failing else Status.RESTARTING if self.status["restarts"] else Status.UPDATING,
                     child_pid=child.pid, child_started=started_at(child.pid))
        return child, pump

    def _pump(self, child: subprocess.Popen) -> None:
        assert child.stdout is not None
        for line in iter(child.stdout.readline, b""):
            self.log.write(line)

    def _watch(self, child: subprocess.Popen) -> bool:
        """Until the runtime exits or we are told to stop; returns whether it became ready."""
        ready, since = False, time.monotonic()
        while child.poll() is None:
            if self.stopping.wait(1.0 if ready else 0.2):
                break
            if not ready and self._probe_ready():
                ready = True
                self._update(f"runtime is ready ({time.monotonic() - since:.1f}s)", status=Status.LIVE,
                             consecutive_failures=0, ready_at=time.time())
        return ready

    def _probe_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                # Only our own child counts: another program may hold the port (then our child fails to bind).
                return r.status == 200 and json.loads(r.read()).get("instance") == self.instance
        except (urllib.error.URLError, OSError, ValueError, AttributeError):
            return False

    def _after_exit(self, code: int, was_ready: bool) -> None:
        failures = 1 if was_ready else self.status["consecutive_failures"] + 1
        delay = min(2.0 ** (failures - 1), MAX_BACKOFF)
        when = "" if was_ready else " before becoming ready"
        self._update(
            f"runtime {describe_exit(code)}{when}; restarting in {delay:.0f}s", error=True,
            # Until the crash loop is certain, a restart is coming: `get` says so, not "error".
            status=Status.CRASH_LOOP if failures >= CRASH_LOOP_AFTER else Status.RESTARTING,
            last_exit_code=code, last_exit_at=time.time(), consecutive_failures=failures,
            restarts=self.status["restarts"] + 1, child_pid=None, child_started=None,
        )
        self.stopping.wait(delay)

    def _stop(self, child: subprocess.Popen, pump: threading.Thread) -> None:
        self.log.note(f"stopping runtime (pid {child.pid}): SIGTERM, SIGKILL after {self.grace:.0f}s")
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(self.grace)
            except subprocess.TimeoutExpired:
                self.log.note("runtime did not stop in time: SIGKILL")
        _kill_group(child.pid)
        child.wait()
        pump.join(timeout=5)


def _kill_group(pgid: int | None) -> None:
    if pgid:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlserve.deploy.local.supervisor")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--api", required=True)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the runtime command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no runtime command given (put it after --)")
    supervisor = Supervisor(StateDir(args.state_dir), args.api, args.port, command, args.grace)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: supervisor.stopping.set())
    return supervisor.run()


if __name__ == "__main__":
    raise SystemExit(main())
