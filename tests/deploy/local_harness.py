"""Helpers for tests of the local backend and the CLI: project copies and process checks.

Every test project lives in its own temporary folder; `cleanup` deletes its APIs and then
kills (and reports) any process whose command line still mentions the folder, so no test can
leave supervisors or runtimes behind unnoticed.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import yaml

from mlserve.deploy.local.backend import LocalBackend

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "local"


def copy_project(dest: Path) -> Path:
    """A fresh copy of the fixture project; returns the folder."""
    shutil.copytree(FIXTURE, dest, ignore=shutil.ignore_patterns(".mlserve", "__pycache__"))
    return dest


@contextlib.contextmanager
def project_copy(dest: Path, *, stream: bool = False) -> Iterator[Path]:
    """A fresh copy of the fixture project (with the `stream` API if asked) for the `with` block;
    at its end every API is deleted and no process may be left behind."""
    folder = copy_project_with_stream(dest) if stream else copy_project(dest)
    try:
        yield folder
    finally:
        assert cleanup(folder) == [], "processes were left behind after delete"


def edit_spec(spec: Path, change: Callable[[list[dict]], object]) -> None:
    apis = yaml.safe_load(spec.read_text())
    change(apis)
    spec.write_text(yaml.safe_dump(apis, sort_keys=False))


def processes_mentioning(folder: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(folder) in arg for arg in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def cleanup(folder: Path) -> list[str]:
    """Delete every API of the project, then kill stragglers; returns what had to be killed."""
    LocalBackend.for_project(folder, grace=5).delete(None, lambda _: None)
    leftovers = processes_mentioning(folder)
    described = [" ".join(p.info["cmdline"]) for p in leftovers]
    for proc in leftovers:
        proc.kill()
    psutil.wait_procs(leftovers, timeout=5)
    return described


def pids(backend: LocalBackend, api: str) -> dict[str, int]:
    """{"supervisor": pid, "runtime": pid} of a deployed API."""
    status = backend.status(api, detail=True)[0]
    return {row["role"]: row["pid"] for row in status.processes}


def wait_for(condition: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


STREAMS = Path(__file__).resolve().parents[1] / "fixtures" / "predictors" / "streams.py"


def copy_project_with_stream(dest: Path) -> Path:
    """The fixture project plus a `stream` API (SSE), which logs what it streams to stream.log."""
    folder = copy_project(dest)
    shutil.copy(STREAMS, folder / "predictors" / "streams.py")
    edit_spec(folder / "cortex.yaml", lambda apis: apis.append({
        "name": "stream", "predictor": {"path": "predictors/streams.py", "class_name": "SyncStream",
                                        "config": {"log": str(folder / "stream.log")}}}))
    return folder
