"""Crash-safe JSON files and log files for the local backend.

Every state or status file is replaced whole (write a temporary file, fsync, os.replace), so a
reader never sees half a file even when the writer is killed mid-write. Everything under
`.mlserve/` is private to its owner (folders 0700, files 0600): logs hold tracebacks and paths.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from mlserve.errors import StateError
from mlserve.files import write_json  # noqa: F401  (re-exported for the backend's modules)
from mlserve.logs import note_line

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path, top: Path) -> Path:
    """Create `path` (inside `top`) and every folder from `top` down to it as 0700; tighten old ones."""
    path, top = Path(path), Path(top)
    between = [top / p for p in reversed(path.relative_to(top).parents) if p != Path(".")]
    for folder in [top, *between, path]:
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        if folder.stat().st_mode & 0o777 != PRIVATE_DIR:
            os.chmod(folder, PRIVATE_DIR)
    return path


def open_private(path: Path, mode: str = "ab"):
    """Open a file for appending, created (or tightened) to 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    return os.fdopen(fd, mode)


def state_hint(path: Path) -> str:
    return f"delete {path.parent} and run mlserve deploy again (running APIs may need stopping by hand)"


def read_json(path: Path) -> dict | None:
    """The file's object, or None when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise StateError(
            f"{path} is not valid JSON ({e.msg} at line {e.lineno})", hint=state_hint(path),
        ) from None
    if not isinstance(data, dict):
        raise StateError(f"{path} does not hold a JSON object", hint=state_hint(path))
    return data


class RotatingLog:
    """An append-only log capped at `max_bytes`; the previous part is kept as `<name>.1`.

    Thread-safe: the supervisor's own messages and the API's output share one file.
    """

    def __init__(self, path: Path, max_bytes: int = 10 * 1024 * 1024) -> None:
        self.path, self.max_bytes = path, max_bytes
        self._lock = threading.Lock()
        self._file = open_private(path)

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._file.tell() + len(data) > self.max_bytes and self._file.tell() > 0:
                self._file.close()
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                self._file = open_private(self.path)
            self._file.write(data)
            self._file.flush()

    def note(self, message: str) -> None:
        self.write(f"{note_line(message)}\n".encode())

    def close(self) -> None:
        with self._lock:
            self._file.close()


def tail_lines(path: Path, n: int) -> list[str]:
    """The last `n` lines of a (possibly large) text file; [] when it does not exist."""
    if n <= 0:
        return []
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            end = f.tell()
            block, data = 8192, b""
            while end > 0 and data.count(b"\n") <= n:
                start = max(0, end - block)
                f.seek(start)
                data = f.read(end - start) + data
                end = start
    except FileNotFoundError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-n:]


def follow_lines(path: Path, poll: float = 0.2) -> Iterator[str]:
    """New lines appended to `path`, forever; starts at the current end, survives rotation."""
    f = None
    inode = None
    first = True  # only the first open skips what tail_lines already showed
    pending = ""
    while True:
        if f is None:
            try:
                f = open(path, encoding="utf-8", errors="replace")
            except FileNotFoundError:
                first = False
                time.sleep(poll)
                continue
            if first:
                f.seek(0, os.SEEK_END)
                first = False
            inode = os.fstat(f.fileno()).st_ino
        chunk = f.read()
        if chunk:
            pending += chunk
            *lines, pending = pending.split("\n")
            yield from lines
            continue
        try:
            rotated = os.stat(path).st_ino != inode
        except FileNotFoundError:
            rotated = True
        if rotated:
            # What was written to the old file between the last read and the rotation.
            pending += f.read()
            *lines, pending = pending.split("\n")
            yield from lines
            f.close()
            f = None
            continue
        time.sleep(poll)
