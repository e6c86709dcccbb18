"""Rebuild a model-cache entry from the source its marker names (`mlserve models verify --fix`).

The marker records the reference and, for GGUF entries, the absolute paths of the source files
and the dtype, so an entry is rebuilt without the project that named it (relative references).
"""

from __future__ import annotations

from pathlib import Path

from mlserve.errors import ModelDamaged
from mlserve.models.cache import Progress, ensure_converted, read_meta, remove_entry
from mlserve.models.references import ResolvedModel


def rebuild(root: Path, folder: Path, say: Progress) -> Path:
    """Remove the entry `folder` (damaged) and build it again; returns the new entry's file or folder."""
    meta = read_meta(folder) or {}
    source, name = str(meta.get("source", "?")), folder.name
    remove_entry(root, folder)
    if name.startswith("s3-"):
        from mlserve.models import s3

        return s3.fetch(source, root, say, verify=True)
    parts = tuple(Path(p) for p in meta.get("files", []))
    missing = [str(p) for p in parts if not p.is_file()]
    if not parts or missing:
        raise ModelDamaged(f"model cache entry {name} is removed and cannot be rebuilt: its source '{source}' "
                           f"is gone ({', '.join(missing) or 'not recorded'})",
                           hint=f"restore the source, then run `mlserve models prepare {source}` (or deploy again)")
    resolved = ResolvedModel(source, "gguf", parts=parts)
    if "-gguf" in name:
        from mlserve.models.llamacpp import gguf_file

        dtype = meta.get("dtype")
        return gguf_file(resolved, root, say, None if dtype == "as stored" else dtype, verify=True)
    return ensure_converted(resolved, root, say, verify=True)
