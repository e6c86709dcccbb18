"""The models of a multi-model API and their versions, as they are now (Cortex's layout).

A model reference is a local folder, `pkg://<package>/<folder>` or `s3://bucket/prefix`. Integer
subfolders of a model are its versions; a model without any holds one version, `1` (its folder).
`scan` lists every model and version with a fingerprint that changes when the version's files do:
for local folders their relative paths, sizes and modification times, for S3 the keys, sizes and
ETags of one listing. `local_folder` is what `load_model` receives: the folder itself, or the
version downloaded into the model cache (s3.py, keyed by those ETags).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlserve.errors import ModelNotFound
from mlserve.models import s3
from mlserve.models.references import PKG_SCHEME, package_folder


@dataclass(frozen=True)
class Version:
    model: str
    number: int
    source: str  # a local folder, or the s3:// URL of the version's objects
    fingerprint: str

    @property
    def remote(self) -> bool:
        return s3.is_s3(self.source)


@dataclass
class Listing:
    """What `scan` found: {model: {version number: Version}}, and why a configured model has no versions."""

    models: dict[str, dict[int, Version]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # `dir` itself cannot be listed


def _digest(items: Iterable[Any]) -> str:
    return hashlib.sha256(repr(sorted(items)).encode()).hexdigest()[:16]


def _local(ref: str, root: Path) -> Path:
    if ref.startswith(PKG_SCHEME):
        return package_folder(ref)
    return (root / ref).resolve()


def _versions_of(model: str, base: str, entries: dict[str, tuple]) -> dict[int, Version]:
    """Group {relative path: stat or ETag tuple} under a model's location into its versions."""
    grouped: dict[int, list] = {}
    unversioned: list = []
    for relative, stamp in entries.items():
        head, _, rest = relative.partition("/")
        if head.isdigit() and rest:
            grouped.setdefault(int(head), []).append((rest, stamp))
        else:
            unversioned.append((relative, stamp))
    if not grouped:  # no version folders: the model's folder is its one version
        return {1: Version(model, 1, base, _digest(unversioned))} if unversioned else {}
    sep = "/" if s3.is_s3(base) else os.sep
    return {n: Version(model, n, f"{base.rstrip('/')}{sep}{n}", _digest(files)) for n, files in grouped.items()}


def _local_files(folder: Path) -> dict[str, tuple]:
    files = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            try:
                st = path.stat()
            except OSError:  # removed while we walked: the next scan sees the rest gone too
                continue
            files[path.relative_to(folder).as_posix()] = (st.st_size, st.st_mtime_ns)
    return files


def _s3_files(url: str) -> dict[str, tuple]:
    return {relative: (etag, size) for relative, (_, etag, size) in s3.listing(s3.client(), url).items()}


def _files(ref: str, root: Path) -> tuple[str, dict[str, tuple]]:
    """(the model's location, {relative path: stamp}); ModelNotFound when there is nothing there."""
    if s3.is_s3(ref):
        return ref.rstrip("/"), _s3_files(ref)
    folder = _local(ref, root)
    if not folder.is_dir():
        raise ModelNotFound(f"model folder {folder} does not exist",
                            hint="create it, or fix predictor.multi_model_reloading in cortex.yaml")
    return str(folder), _local_files(folder)


def model_refs(config: Any, root: Path) -> dict[str, str]:
    """{model name: reference} for a `MultiModelReloading` spec; `dir` is listed now."""
    if config.path is not None:
        return {config.path.rstrip("/").rsplit("/", 1)[-1]: config.path}
    if config.paths is not None:
        return {m.name: m.path for m in config.paths}
    base, files = _files(config.dir, root)
    names = sorted({relative.split("/", 1)[0] for relative in files if "/" in relative})
    sep = "/" if s3.is_s3(base) else os.sep
    return {name: f"{base}{sep}{name}" for name in names}


def scan(config: Any, root: Path) -> Listing:
    """Every model of `config` (a MultiModelReloading) with its versions, as they are now."""
    listing = Listing()
    try:
        refs = model_refs(config, root)
    except ModelNotFound as e:
        listing.error = e.message
        return listing
    for name, ref in refs.items():
        try:
            base, files = _files(ref, root)
        except ModelNotFound as e:
            listing.models[name], listing.problems[name] = {}, e.message
            continue
        listing.models[name] = _versions_of(name, base, files)
        if not listing.models[name]:
            listing.problems[name] = f"{base} holds no files"
    return listing


def local_folder(version: Version, cache: Path) -> Path:
    """The folder `load_model` reads for `version`: downloaded into `cache` first when it is in S3."""
    if version.remote:
        return s3.fetch(version.source, cache, on_progress=lambda _: None)
    return Path(version.source)
