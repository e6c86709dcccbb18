"""One deploy/refresh/delete at a time per project: an flock on `.mlserve/lock`.

The kernel drops an flock when its holder dies, even by SIGKILL, so a killed CLI never leaves
the project locked. The holder writes its pid into the file for the waiting side's message.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mlserve.contract.progress import Transient
from mlserve.deploy.local.files import PRIVATE_FILE, private_dir
from mlserve.errors import StateError


@contextmanager
def project_lock(path: Path, timeout: float, progress: Callable[[str], None]) -> Iterator[None]:
    private_dir(path.parent, path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    try:
        _acquire(fd, path, timeout, progress)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _acquire(fd: int, path: Path, timeout: float, progress: Callable[[str], None]) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        if time.monotonic() >= deadline:
            raise StateError(
                f"another mlserve command (pid {holder}) has been changing this project for over "
                f"{timeout:.0f}s ({path} is locked)",
                hint="wait for it to finish, or stop that process and run the command again",
            )
        progress(Transient(f"waiting for another mlserve command (pid {holder}) to finish with this project…"))
        time.sleep(0.2)
