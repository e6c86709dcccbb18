"""Hashes that decide whether a deployed API must restart.

`spec_hash` covers the whole API entry; `predictor_hash` covers what the running code
depends on: the predictor file, .py files under `python_path`, the config, and any
project file a config value names (e.g. reference material) and the files of
`networking.static`, so editing those restarts the API while an unchanged project is left alone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

from mlserve.spec.models import APISpec


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


def spec_hash(api: APISpec) -> str:
    return hashlib.sha256(_canonical(api.model_dump(mode="json"))).hexdigest()[:16]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _files_named_in_config(api: APISpec, root: Path) -> list[Path]:
    files = []
    for text in _strings(api.predictor.config):
        if "\n" in text or len(text) > 400:
            continue
        try:
            candidate = (root / text).resolve()
            if candidate.is_file() and candidate.is_relative_to(root):
                files.append(candidate)
        except (OSError, ValueError):
            continue
    return files


def predictor_hash(api: APISpec, root: Path) -> str:
    root = root.resolve()
    files = [api.predictor_file(root), *_files_named_in_config(api, root)]
    if api.predictor.python_path:
        files.extend(sorted((root / api.predictor.python_path).resolve().rglob("*.py")))
    static = api.static_folder(root)
    if static is not None and static.is_dir():  # the page served next to the API (networking.static)
        files.extend(f for f in static.rglob("*") if f.is_file())
    digest = hashlib.sha256(_canonical(api.predictor.config))
    for f in sorted(set(files)):
        digest.update(str(f.relative_to(root) if f.is_relative_to(root) else f).encode())
        digest.update(f.read_bytes() if f.is_file() else b"<missing>")
    return digest.hexdigest()[:16]
