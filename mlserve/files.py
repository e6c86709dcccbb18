"""File-system helpers shared across mlserve: crash-safe file writes and the user cache folder."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_text(path: Path, text: str) -> None:
    """Replace `path` whole: a reader sees the old or the new file, never half of one, even when
    the writer is killed (a unique temporary file beside it, fsync, os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True))


def user_cache_dir(*parts: str, env: str) -> Path:
    """$<env> when set; else $XDG_CACHE_HOME/mlserve/<parts>, or ~/.cache/mlserve/<parts>."""
    if override := os.environ.get(env):
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser().joinpath("mlserve", *parts)
