"""sha256 of model source files, computed once per file version.

Hashing a 250 MB GGUF takes about a second; a cache lookup happens on every predictor start.
The digest is remembered in a small JSON sidecar keyed by (path, size, mtime), so it is
recomputed only when the file changes. The digest itself (not size+mtime) keys the cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from filelock import FileLock

from mlserve.files import write_json

SIDECAR = "digests.json"
_CHUNK = 1 << 20


def _stamp(paths: Sequence[Path]) -> list[list]:
    stats = [p.stat() for p in paths]
    return [[str(p), s.st_size, s.st_mtime_ns] for p, s in zip(paths, stats, strict=True)]


def content_sha256(
    paths: Sequence[Path], store: Path, on_progress: Callable[[str], None] | None = None
) -> str:
    """sha256 of the files' concatenated content (a split file hashes like the joined one)."""
    paths = [Path(p).resolve() for p in paths]
    store.mkdir(parents=True, exist_ok=True)
    sidecar = store / SIDECAR
    key = "|".join(str(p) for p in paths)
    stamp = _stamp(paths)
    known = _read(sidecar).get(key)
    if known and known.get("stamp") == stamp:
        return known["sha256"]
    if on_progress:
        total = sum(s[1] for s in stamp)
        on_progress(f"hashing {len(paths)} file(s), {total / 1e6:.0f} MB")
    value = sha256_of(paths)
    with FileLock(str(sidecar) + ".lock"):
        entries = _read(sidecar)
        entries[key] = {"stamp": stamp, "sha256": value}
        write_json(sidecar, entries)
    return value


def sha256_of(paths: Sequence[Path]) -> str:
    """sha256 of the files' content, read in order."""
    digest = hashlib.sha256()
    for path in paths:
        with Path(path).open("rb") as f:
            while block := f.read(_CHUNK):
                digest.update(block)
    return digest.hexdigest()


def _read(sidecar: Path) -> dict:
    try:
        data = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return {}  # missing or half-written by a crashed process: recompute
    return data if isinstance(data, dict) else {}
