"""Starting, stopping and waiting for one API's supervisor."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mlserve.contract.progress import Progress, Transient
from mlserve.contract.status import Status
from mlserve.deploy.local.files import open_private, tail_lines
from mlserve.deploy.local.procs import (
    CRASH_LOOP_AFTER,
    SUPERVISOR_MODULE,
    describe_exit,
    is_alive,
    started_at,
    supervisors_of,
    terminate,
)
from mlserve.deploy.local.state import APIRecord, StateDir
from mlserve.errors import DeployError

RuntimeCommand = Callable[[APIRecord], list[str]]


def launch(state: StateDir, rec: APIRecord, command: RuntimeCommand, grace: float) -> None:
    """Start a detached supervisor for `rec` and record who it is."""
    state.forget(rec.name)  # waiting must only ever see the new supervisor's status
    log = state.log_file(rec.name)
    state.private(log.parent)
    argv = [sys.executable, "-m", SUPERVISOR_MODULE, "--state-dir", str(state.path), "--api", rec.name,
            "--port", str(rec.port), "--grace", str(grace), "--", *command(rec)]
    with open_private(log) as out:  # where a supervisor that cannot even start says why
        proc = subprocess.Popen(argv, cwd=Path(rec.spec_file).parent, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out, start_new_session=True)
    rec.supervisor_pid, rec.supervisor_started = proc.pid, started_at(proc.pid)


def stop(state: StateDir, api: str, recorded: tuple[int | None, float | None], grace: float) -> None:
    """Stop every process of this API: the `recorded` supervisor, the one named in its status
    file, and any found by command line."""
    status = state.read_status(api)
    supervisors = {recorded, (status.get("supervisor_pid"), status.get("supervisor_started")),
                   *supervisors_of(state.path).get(api, [])}
    alive = [p for p in supervisors if is_alive(*p)]
    terminate(alive, grace + 5.0)  # a supervisor stops its runtime within `grace`
    # A supervisor killed by SIGKILL leaves its runtime behind; the status file names it.
    status = state.read_status(api)
    child = (status.get("child_pid"), status.get("child_started"))
    if is_alive(*child):
        terminate([child], grace, group=True)


def _supervisor_status(state: StateDir, rec: APIRecord) -> dict | None:
    """The status written by the recorded supervisor, or None while it has not written one."""
    status = state.read_status(rec.name)
    return status if status.get("supervisor_pid") == rec.supervisor_pid else None


def _failure(state: StateDir, rec: APIRecord, strict: bool) -> str | None:
    """Why this API will not become ready, or None while it still may."""
    if not is_alive(rec.supervisor_pid, rec.supervisor_started):
        return "its supervisor process exited"
    status = _supervisor_status(state, rec)
    if status is None:
        return None
    failures = status.get("consecutive_failures", 0)
    if (strict and failures >= 1) or failures >= CRASH_LOOP_AFTER:
        return f"the runtime {describe_exit(status.get('last_exit_code') or 0)} before becoming ready"
    return None


# The supervisor's notes (mlserve/logs.py note_line), as text or JSON lines.
_RUN_START = re.compile(r'^\S+ \S+ INFO mlserve\.supervisor \[\d+\] runtime started |^\{.*"logger": '
                        r'"mlserve\.supervisor", "message": "runtime started ')
_RUN_END = re.compile(r'^\S+ \S+ INFO mlserve\.supervisor \[\d+\] runtime (exited|was killed) |^\{.*"logger": '
                      r'"mlserve\.supervisor", "message": "runtime (exited|was killed) ')


def last_run_log(state: StateDir, api: str, limit: int = 200) -> list[str]:
    """The log lines of the runtime's last finished run (its traceback), or the log's tail."""
    lines = tail_lines(state.log_file(api), 2000)
    ends = [i for i, line in enumerate(lines) if _RUN_END.match(line)]
    if ends:
        starts = [i for i, line in enumerate(lines[:ends[-1]]) if _RUN_START.match(line)]
        begin = starts[-1] + 1 if starts else 0
        return lines[begin:ends[-1] + 1][-limit:]
    return lines[-60:]


def wait_ready(state: StateDir, records: dict[str, APIRecord], names: list[str], strict: set[str],
               timeout: float, progress: Progress) -> None:
    """Block until every named API is live. APIs in `strict` (just started) fail on their first
    crash; the others only when they are in a crash loop. Raises DeployError naming each failure."""
    began = time.monotonic()
    pending, failed = list(names), {}
    while pending:
        for name in list(pending):
            rec = records[name]
            status = _supervisor_status(state, rec) or {}
            why = _failure(state, rec, name in strict)
            if status.get("status") == Status.LIVE and is_alive(rec.supervisor_pid, rec.supervisor_started):
                pending.remove(name)
            elif why:
                failed[name] = why
                pending.remove(name)
        elapsed = time.monotonic() - began
        if pending and elapsed > timeout:
            for name in pending:
                failed[name] = f"it did not become ready within {timeout:.0f}s"
            break
        if pending:
            progress(_waiting_message(state, pending, elapsed))
            time.sleep(0.2)
    if failed:
        raise DeployError(_failure_report(state, records, failed), hint=_failure_hint(failed))


def _waiting_message(state: StateDir, pending: list[str], elapsed: float) -> Transient:
    message = ", ".join(pending) + f": loading… {elapsed:.0f}s"
    last = tail_lines(state.log_file(pending[0]), 1)
    if len(pending) == 1 and last:
        message += f"  ({last[0].strip()[:70]})"
    return Transient(message)


def _failure_report(state: StateDir, records: dict[str, APIRecord], failed: dict[str, str]) -> str:
    parts = []
    for name, why in failed.items():
        log = state.log_file(name)
        lines = "\n".join(last_run_log(state, name))
        rec = records[name]
        if rec.snapshot:  # the traceback names the deployed copy: show the user's own files instead
            lines = lines.replace(f"{rec.snapshot}/", f"{Path(rec.spec_file).parent}/")
        parts.append(f"api '{name}' is not ready: {why}\n--- {log} ---\n{lines}\n---")
    return "\n".join(parts)


def _failure_hint(failed: dict[str, str]) -> str:
    first = next(iter(failed))
    return (f"fix the error above and run `mlserve deploy` again; `mlserve logs {first}` shows the whole log "
            "(meanwhile the API keeps restarting with backoff; `mlserve delete` stops it)")
