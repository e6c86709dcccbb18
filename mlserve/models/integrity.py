"""What a model-cache entry wrote, recorded so that damage to it is noticed.

The last step of writing an entry records the size, mtime and sha256 of every file in it, inside
the entry's marker (written in the temp folder that is then renamed into place: the entry and its
record appear together). Reading the entry checks it against that record:
- cheaply, every time: each file is there with its size and mtime. A different size is damage; a
  different mtime alone (a copy that did not keep times) costs that file's digest, and a matching
  digest updates the record;
- fully when asked (`mlserve models prepare`, `mlserve models verify`, and every load of an entry up
  to FULL_AT_LOAD_BYTES, measured in bench/cache_verify.py): every file's sha256 as well.
An entry without a record (written by an older mlserve) cannot be checked: it counts as damaged,
so it is rebuilt once from its source and recorded then.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlserve.models.digest import sha256_of

RECORD = "written"  # the marker's key: {relative path: {size, mtime_ns, sha256}}
# Up to this many bytes an entry is digested at every load: bench/cache_verify.py measured 0.53 s
# for SmolLM2's 271 MB and 0.87 s for Gemma's 543 MB (500-700 MB/s), less than loading them
# (0.68 s, 1.40 s). A larger entry gets the cheap check at load, the full one from prepare/verify.
FULL_AT_LOAD_BYTES = 1 << 30


@dataclass(frozen=True)
class Damage:
    """The first difference between an entry and its record."""

    file: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.file}: expected {self.expected}, found {self.found}"


def record(folder: Path, marker: str) -> dict[str, dict]:
    """The record of every file under `folder` but the marker."""
    written = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != marker):
        stat = path.stat()
        written[path.relative_to(folder).as_posix()] = {
            "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256_of([path])}
    return written


def recorded_bytes(meta: dict) -> int:
    written = meta.get(RECORD)
    return sum(int(f.get("size", 0)) for f in written.values()) if isinstance(written, dict) else 0


def check(folder: Path, meta: dict, full: bool) -> tuple[Damage | None, dict | None]:
    """(the damage found or None, an updated record when only mtimes moved, else None)."""
    written = meta.get(RECORD)
    if not isinstance(written, dict) or not written:
        return Damage("(record)", "the size and digest of every file", "no record: written by an older mlserve"), None
    moved = {}
    try:
        for relative, want in written.items():
            damage, stamp = _check_file(folder / relative, relative, want, full)
            if damage:
                return damage, None
            if stamp is not None:
                moved[relative] = {**want, "mtime_ns": stamp}
    except (KeyError, TypeError, AttributeError):
        return Damage("(record)", "a readable record", "a malformed one"), None
    return None, ({**written, **moved} if moved else None)


def _check_file(path: Path, relative: str, want: dict, full: bool) -> tuple[Damage | None, int | None]:
    """(damage, the new mtime when only the mtime moved)."""
    try:
        stat = path.stat()
    except OSError:
        return Damage(relative, f"{want['size']} bytes", "no such file"), None
    if stat.st_size != want["size"]:
        return Damage(relative, f"{want['size']} bytes", f"{stat.st_size} bytes"), None
    moved = stat.st_mtime_ns != want["mtime_ns"]
    if full or moved:
        found = sha256_of([path])
        if found != want["sha256"]:
            return Damage(relative, f"sha256 {want['sha256'][:16]}", f"sha256 {found[:16]}"), None
    return None, (stat.st_mtime_ns if moved else None)
