"""The last server errors (5xx answers) of an API, with their request ids, for `mlserve get API`.

One worker keeps them in memory; with several worker processes each appends a JSON line to a
file in the shared metrics folder (O_APPEND writes of one short line do not interleave), so
whichever worker answers GET /recent-errors reports the whole replica.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from pathlib import Path

KEEP = 20
PATH = "/recent-errors"  # internal endpoint, left out of the OpenAPI


class RecentErrors:
    def __init__(self, folder: str | None = None, keep: int = KEEP) -> None:
        self.keep = keep
        self.file = Path(folder) / "recent-errors.jsonl" if folder else None
        self.memory: deque[dict] = deque(maxlen=keep)

    def add(self, status: int, request_id: str, path: str) -> None:
        entry = {"time": round(time.time(), 3), "status": status, "request_id": request_id, "path": path}
        if self.file is None:
            self.memory.append(entry)
            return
        fd = os.open(self.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, json.dumps(entry).encode() + b"\n")
        finally:
            os.close(fd)

    def latest(self) -> list[dict]:
        """Oldest first, at most `keep`."""
        if self.file is None:
            return list(self.memory)
        try:
            lines = self.file.read_text().splitlines()[-self.keep:]
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]
