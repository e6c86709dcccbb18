"""The conversion cache: GGUF sources converted once to safetensors (or split GGUF parts joined
once into one file), keyed by content hash.

Layout under the cache folder::

    <sha256[:24]>-tf<major>/   a saved transformers model (config, safetensors, tokenizer)
    <sha256[:24]>-gguf/        model.gguf: split GGUF parts joined, for llama.cpp
        mlserve-entry.json     written last: an entry without it does not exist
    .locks/<entry>.lock        held while one process converts that entry
    .tmp-<entry>-*/            work in progress, renamed into place when complete
    digests.json               remembered source digests (see digest.py)

Two processes preparing the same model: the first takes the lock and converts; the second
waits on the lock, then finds the finished entry. A crashed conversion leaves only a temp
folder, which the next holder of the lock removes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from mlserve.errors import ModelNotFound
from mlserve.files import user_cache_dir
from mlserve.models.digest import content_sha256
from mlserve.models.references import ResolvedModel

MARKER = "mlserve-entry.json"
log = logging.getLogger("mlserve.models")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    source: str  # the reference it was prepared from
    sha256: str
    size_bytes: int
    created: float
    convert_seconds: float


def cache_dir(override: str | Path | None = None) -> Path:
    """Argument > $MLSERVE_MODEL_CACHE > $XDG_CACHE_HOME/mlserve/models > ~/.cache/mlserve/models."""
    if override:
        return Path(override).expanduser()
    return user_cache_dir("models", env="MLSERVE_MODEL_CACHE")


def entry_name(sha256: str) -> str:
    import transformers  # the saved format follows the transformers major version

    return f"{sha256[:24]}-tf{transformers.__version__.split('.')[0]}"


def lock_path(root: Path, name: str) -> Path:
    return root / ".locks" / f"{name}.lock"


def _log_progress(message: str) -> None:
    log.info(message)


def ensure_converted(resolved: ResolvedModel, root: Path, on_progress: Progress | None = None) -> Path:
    """The cached safetensors folder for a GGUF reference, converting it first if needed."""
    from mlserve.models.convert import (
        convert_gguf,  # imports transformers: only when converting
    )

    say = on_progress or _log_progress
    root.mkdir(parents=True, exist_ok=True)
    name = entry_name(content_sha256(resolved.parts, root, say))

    def convert(work: Path) -> dict:
        say(f"converting '{resolved.ref}' to safetensors once (later loads use the cache)")
        convert_gguf(resolved.parts, work, say)
        return {"files": [str(p) for p in resolved.parts], "sha256": name.split("-")[0]}

    return prepare_entry(root, name, resolved.ref, convert, say)


def prepare_entry(root: Path, name: str, source: str, build: Callable[[Path], dict], say: Progress) -> Path:
    """The cache entry `name`, built by `build(work_folder)` (returning extra metadata) if missing.

    One process builds under the entry's lock, into a temp folder renamed into place when
    complete; others wait on the lock and then find the finished entry.
    """
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    if (final / MARKER).exists():
        return final
    (root / ".locks").mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path(root, name)))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        say(f"waiting for another process that is preparing '{source}'")
        lock.acquire()
    try:
        if (final / MARKER).exists():
            return final
        for stale in root.glob(f".tmp-{name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
        work.chmod(0o755)  # mkdtemp makes it private; the entry is for every user of the cache
        try:
            started = time.monotonic()
            extra = build(work)
            seconds = time.monotonic() - started
            meta = {"source": source, **extra, "created": time.time(), "convert_seconds": round(seconds, 2)}
            (work / MARKER).write_text(json.dumps(meta, indent=1))
            shutil.rmtree(final, ignore_errors=True)  # an unmarked leftover from an old crash
            os.rename(work, final)
            say(f"prepared '{source}' in {seconds:.1f} s into {final}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        lock.release()
    return final


def list_entries(root: Path) -> list[CacheEntry]:
    entries = []
    for marker in sorted(root.glob(f"*/{MARKER}")):
        try:
            meta = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        folder = marker.parent
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        entries.append(CacheEntry(folder, meta.get("source", "?"), meta.get("sha256", ""), size,
                                  meta.get("created", 0.0), meta.get("convert_seconds", 0.0)))
    return entries


def clear(root: Path, names: list[str] | None = None) -> list[Path]:
    """Remove entries (all, or those whose folder name starts with one of `names`)."""
    removed = []
    for entry in list_entries(root):
        if names and not any(entry.path.name.startswith(n) for n in names):
            continue
        (root / ".locks").mkdir(exist_ok=True)
        with FileLock(str(lock_path(root, entry.path.name))):
            shutil.rmtree(entry.path)
        removed.append(entry.path)
    if names and not removed:
        raise ModelNotFound(f"no cache entry matches {', '.join(names)} in {root}",
                            hint="run `mlserve models list` to see the entries")
    return removed
