"""Process identity and stopping, safe against pid reuse.

A pid alone can name a different process after a crash and a reboot-free pid wrap, so every
pid we keep is paired with the process's start time and checked before it is signalled.
"""

from __future__ import annotations

import os
import signal
import time
from itertools import pairwise
from pathlib import Path

import psutil

SUPERVISOR_MODULE = "mlserve.deploy.local.supervisor"

# The runtime's exit code when the predictor's __init__ raised (see mlserve.runtime).
INIT_FAILED = 3
PORT_TAKEN = 4
CRASH_LOOP_AFTER = 3  # consecutive failures before the status says "error (crash loop)"
MAX_BACKOFF = 30.0


def describe_exit(code: int) -> str:
    if code == INIT_FAILED:
        return "exited with code 3: the predictor's __init__ failed"
    if code == PORT_TAKEN:
        return "exited with code 4: another program holds its port"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def started_at(pid: int) -> float | None:
    """The process's start time (unix seconds), or None when it is gone or a zombie."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            _reap(pid)
            return None
        return proc.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _reap(pid: int) -> None:
    """Collect a finished child of ours so it stops showing up as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def is_alive(pid: int | None, started: float | None) -> bool:
    if not pid or started is None:
        return False
    now = started_at(pid)
    return now is not None and abs(now - started) < 0.05


def supervisors_of(state_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Live supervisor processes for this state folder, by API, found by command line.

    This also finds a supervisor started by a CLI that was killed before it could record it.
    """
    found: dict[str, list[tuple[int, float]]] = {}
    for proc in psutil.process_iter(["cmdline", "create_time"]):
        cmd = proc.info.get("cmdline") or []
        if SUPERVISOR_MODULE not in cmd or not _has_arg(cmd, "--state-dir", str(state_dir)):
            continue
        api = next((b for a, b in pairwise(cmd) if a == "--api"), None)
        if api and proc.pid != os.getpid() and is_alive(proc.pid, proc.info["create_time"]):
            found.setdefault(api, []).append((proc.pid, proc.info["create_time"]))
    return found


def _has_arg(cmd: list[str], flag: str, value: str) -> bool:
    return any(a == flag and b == value for a, b in pairwise(cmd))


def wait_gone(procs: list[tuple[int, float]], timeout: float) -> list[tuple[int, float]]:
    """Wait until the processes exit; return those still alive after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    alive = procs
    while True:
        alive = [p for p in alive if is_alive(*p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def signal_process(pid: int, started: float, sig: int, *, group: bool = False) -> None:
    """Send `sig` to a process (or its whole process group) if it is still the one we started."""
    if not is_alive(pid, started):
        return
    try:
        if group and os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def terminate(procs: list[tuple[int, float]], grace: float, *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL whatever is left after `grace` seconds."""
    for pid, started in procs:
        signal_process(pid, started, signal.SIGTERM, group=group)
    for pid, started in wait_gone(procs, grace):
        signal_process(pid, started, signal.SIGKILL, group=True)
    wait_gone(procs, 5.0)
