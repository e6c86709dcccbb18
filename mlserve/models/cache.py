"""The conversion cache: GGUF sources converted once to safetensors (or split GGUF parts joined
once into one file), keyed by content hash.

Layout under the cache folder::

    <sha256[:24]>-tf<major>/   a saved transformers model (config, safetensors, tokenizer)
    <sha256[:24]>-gguf/        model.gguf: split GGUF parts joined, for llama.cpp
        mlserve-entry.json     written last: an entry without it does not exist; it records the
                               size, mtime and sha256 of every file written (integrity.py)
    .locks/<entry>.lock        held while one process converts that entry
    .tmp-<entry>-*/            work in progress, renamed into place when complete
    digests.json               remembered source digests (see digest.py)

Two processes preparing the same model: the first takes the lock and converts; the second
waits on the lock, then finds the finished entry. A crashed conversion leaves only a temp
folder, which the next holder of the lock removes. A damaged entry (integrity.py) is removed
and built again from its source.
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

from mlserve.errors import MlserveError, ModelDamaged, ModelNotFound
from mlserve.files import user_cache_dir, write_json
from mlserve.models.digest import content_sha256
from mlserve.models.integrity import (
    FULL_AT_LOAD_BYTES,
    RECORD,
    Damage,
    check,
    record,
    recorded_bytes,
)
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


def ensure_converted(resolved: ResolvedModel, root: Path, on_progress: Progress | None = None,
                     verify: bool | None = None) -> Path:
    """The cached safetensors folder for a GGUF reference, converting it first if needed
    (`verify`: see prepare_entry)."""
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

    return prepare_entry(root, name, resolved.ref, convert, say, verify)


def prepare_entry(root: Path, name: str, source: str, build: Callable[[Path], dict], say: Progress,
                  verify: bool | None = None) -> Path:
    """The cache entry `name`, built by `build(work_folder)` (returning extra metadata) if missing
    or damaged.

    One process builds under the entry's lock, into a temp folder renamed into place when
    complete; others wait on the lock and then find the finished entry. The entry is checked
    against its record (integrity.py): fully when `verify`, cheaply when False, and when None
    (a load) fully up to FULL_AT_LOAD_BYTES. A damaged entry is removed and built again.
    """
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    meta = read_meta(final)
    full = verify if verify is not None else recorded_bytes(meta or {}) <= FULL_AT_LOAD_BYTES
    if not full and meta is not None and check(final, meta, full=False) == (None, None):
        return final  # the common load: no lock, no digest
    (root / ".locks").mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path(root, name)))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        say(f"waiting for another process that is preparing '{source}'")
        lock.acquire()
    try:
        sound, damage = _keep_or_remove(final, source, full, say)
        if sound:
            return final
        for stale in root.glob(f".tmp-{name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
        work.chmod(0o755)  # mkdtemp makes it private; the entry is for every user of the cache
        try:
            started = time.monotonic()
            extra = _build(build, work, name, source, damage)
            seconds = time.monotonic() - started
            meta = {"source": source, **extra, "created": time.time(), "convert_seconds": round(seconds, 2)}
            meta[RECORD] = record(work, MARKER)  # last: what a later read checks the entry against
            (work / MARKER).write_text(json.dumps(meta, indent=1))
            shutil.rmtree(final, ignore_errors=True)  # an unmarked leftover from an old crash
            os.rename(work, final)
            say(f"{'rebuilt' if damage else 'prepared'} '{source}' in {seconds:.1f} s into {final}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        lock.release()
    return final


def read_meta(folder: Path) -> dict | None:
    """An entry's marker, or None when there is no (readable) entry."""
    try:
        meta = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def intact(folder: Path) -> bool:
    """Whether `folder` is an entry that passes the cheap check (nothing is changed)."""
    meta = read_meta(folder)
    return meta is not None and check(folder, meta, full=False) == (None, None)


def _keep_or_remove(final: Path, source: str, full: bool, say: Progress) -> tuple[bool, Damage | None]:
    """(whether `final` is a sound entry, what was wrong with it). A sound one whose mtimes moved
    gets its record updated; a damaged one is removed. The entry's lock is held."""
    meta = read_meta(final)
    if meta is None:
        return False, None  # not there (or unmarked): built, nothing to report
    damage = _check_and_restamp(final, meta, full)
    if damage is None:
        return True, None
    _warn(say, f"model cache entry {final.name} ('{source}') is damaged: {damage}; removed, rebuilding it")
    shutil.rmtree(final, ignore_errors=True)
    return False, damage


def verify_entry(root: Path, folder: Path) -> Damage | None:
    """Digest every file of the entry `folder` against its record (under its lock): the damage, or None."""
    (root / ".locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_path(root, folder.name))):
        meta = read_meta(folder)
        if meta is None:
            return Damage(MARKER, "the entry's marker", "none (removed meanwhile?)")
        return _check_and_restamp(folder, meta, full=True)


def _check_and_restamp(folder: Path, meta: dict, full: bool) -> Damage | None:
    damage, moved = check(folder, meta, full)
    if damage is None and moved is not None:  # same content, new mtimes (a copy): remember them
        write_json(folder / MARKER, {**meta, RECORD: moved})
    return damage


def _build(build: Callable[[Path], dict], work: Path, name: str, source: str, damage: Damage | None) -> dict:
    try:
        return build(work)
    except MlserveError as exc:
        if damage is None:
            raise
        raise ModelDamaged(
            f"model cache entry {name} ('{source}') was damaged ({damage}) and is removed; "
            f"rebuilding it failed: {exc.message}",
            hint=f"{exc.hint + '; then ' if exc.hint else ''}run `mlserve models prepare {source}` "
                 "(or deploy again) to rebuild it") from exc


def _warn(say: Progress, message: str) -> None:
    # A CLI shows it as a step; a runtime (no progress callback) logs it as a warning.
    (log.warning if say is _log_progress else say)(message)


def remove_entry(root: Path, folder: Path) -> None:
    (root / ".locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_path(root, folder.name))):
        shutil.rmtree(folder, ignore_errors=True)


def list_entries(root: Path) -> list[CacheEntry]:
    entries = []
    for marker in sorted(root.glob(f"*/{MARKER}")):
        folder = marker.parent
        if (meta := read_meta(folder)) is None:
            continue
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        entries.append(CacheEntry(folder, meta.get("source", "?"), meta.get("sha256", ""), size,
                                  meta.get("created", 0.0), meta.get("convert_seconds", 0.0)))
    return entries


def clear(root: Path, names: list[str] | None = None) -> list[Path]:
    """Remove entries (all, or those whose folder name starts with one of `names`)."""
    removed = []
    for entry in matching_entries(root, names):
        remove_entry(root, entry.path)
        removed.append(entry.path)
    return removed


def matching_entries(root: Path, names: list[str] | None, *, sources: bool = False) -> list[CacheEntry]:
    """The entries whose folder name starts with one of `names` (with `sources`, or that were
    prepared from one of them); every entry without names."""
    found = [e for e in list_entries(root)
             if not names or any(e.path.name.startswith(n) or (sources and e.source == n) for n in names)]
    if names and not found:
        raise ModelNotFound(f"no cache entry matches {', '.join(names)} in {root}",
                            hint="run `mlserve models list` to see the entries")
    return found
