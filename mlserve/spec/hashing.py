"""What an API's serving process reads, and the hashes that decide restart versus in-place update.

As in Cortex, there are two hashes:
- `runtime_hash` covers what the running process reads: the API's runtime spec (everything but
  the fields in `IN_PLACE_FIELDS`) and the content of its files (`api_files`). A change restarts
  the API locally and rolls its pods on Kubernetes.
- `spec_hash` covers the whole API entry; a change that leaves the runtime hash alone (autoscaling
  bounds, update strategy) is applied in place: no restart, no rollout.

A multi-model API's models list (`predictor.multi_model_reloading` path/paths/dir) is a third kind
of change: it is out of the runtime hash, and `models_document` is what a deploy pushes to the
running processes (a file locally, a ConfigMap on Kubernetes), which apply it without a restart.

`api_files` is the one list of an API's files: the runtime hash and the local snapshot
(`mlserve.deploy.local.snapshot`) both use it, so what is hashed is exactly what is copied.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from mlserve.spec.links import CONFIG_HINT, inside, walk
from mlserve.spec.models import APISpec
from mlserve.spec.multi_model import LIST_FIELDS

# Spec fields the serving process never reads. Autoscaling is all in-place except the runtime's
# own admission limit; the whole update strategy is in-place.
RUNTIME_AUTOSCALING_FIELDS = ("max_replica_concurrency",)
IN_PLACE_FIELDS = ("autoscaling", "update_strategy")
# Folders never taken as part of an API even when a config value names one of their parents.
_SKIPPED_PARTS = {".mlserve", ".git", "__pycache__", ".venv", "venv", "node_modules"}


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


def spec_hash(api: APISpec) -> str:
    return hashlib.sha256(_canonical(api.model_dump(mode="json"))).hexdigest()[:16]


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def runtime_spec(api: APISpec, root: Path, env: dict[str, str] | None = None) -> dict:
    """The part of the API's spec its process reads, with project paths made relative to `root`;
    `env` is added to predictor.env (what deploy fixes for the process, e.g. model pins)."""
    root = Path(root).resolve()
    data = api.model_dump(mode="json")
    code = data[getattr(api, "code_field", "predictor")]  # a TaskAPI's is its `definition`
    code["env"].update(env or {})
    autoscaling = data.get("autoscaling")  # job APIs have none
    for name in IN_PLACE_FIELDS:
        data.pop(name, None)
    if autoscaling is not None:
        data["autoscaling"] = {k: autoscaling[k] for k in RUNTIME_AUTOSCALING_FIELDS}
    code["path"] = _relative(api.predictor_file(root), root)
    if api.predictor.python_path is not None:
        code["python_path"] = _relative((root / api.predictor.python_path).resolve(), root)
    return data


def _fields(value: Any, field: str) -> Iterator[tuple[str, str]]:
    """(field path, text) of every string in a config value."""
    if isinstance(value, str):
        yield field, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _fields(v, f"{field}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _fields(v, f"{field}[{i}]")


def _strings(value: Any) -> Iterator[str]:
    return (text for _, text in _fields(value, ""))


def _keep(suffix: str = "") -> Callable[[str, bool], bool]:
    """For links.walk: skip _SKIPPED_PARTS, and files not ending in `suffix`."""
    def keep(rel: str, is_dir: bool) -> bool:
        return rel.rsplit("/", 1)[-1] not in _SKIPPED_PARTS and (is_dir or rel.endswith(suffix))
    return keep


def _lexical(root: Path, value: str) -> Path:
    """`root / value` with '.' and '..' folded but links kept, so a copy lands at the named path."""
    return Path(os.path.normpath(root / value))


def _named_in_config(api: APISpec, root: Path) -> Iterator[Path]:
    """Project files (or every file of a project folder) that a config value names by path."""
    for field, text in _fields(api.predictor.config, "predictor.config"):
        if "\n" in text or len(text) > 400 or not text.strip():
            continue
        try:
            candidate = _lexical(root, text)
            if candidate == root or not candidate.is_relative_to(root) or not os.path.lexists(candidate):
                continue
            candidate = inside(candidate, root, f"api '{api.name}': {field}", hint=CONFIG_HINT)
            if candidate.is_file():
                yield candidate
            elif candidate.is_dir():
                yield from walk(candidate, root, f"api '{api.name}': {field}", _keep(), CONFIG_HINT)
        except (OSError, ValueError):
            continue


def _imported_names(source: Path) -> Iterator[str]:
    try:
        tree = ast.parse(source.read_bytes(), filename=str(source))
    except (SyntaxError, ValueError, OSError):
        return  # a broken file fails when the runtime loads it, with the user's traceback
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)  # `from pkg import module`


def _module_files(dotted: str, search: list[Path], root: Path, brought_in_by: str) -> Iterator[Path]:
    """The files importing `dotted` runs from the project: each package's __init__.py and the module."""
    parts = dotted.split(".")
    for base in search:
        for i in range(1, len(parts) + 1):
            for candidate in (base.joinpath(*parts[:i - 1], parts[i - 1] + ".py"),
                              base.joinpath(*parts[:i], "__init__.py")):
                if os.path.lexists(candidate) and inside(candidate, root, brought_in_by).is_file():
                    yield candidate


PLATFORM = "mlserve"


def _project_imports(sources: Iterable[Path], search: list[Path], root: Path, api: str) -> set[Path]:
    """Project modules the sources import, transitively (the root and python_path are importable)."""
    found: set[Path] = set()
    queue = list(sources)
    while queue:
        source = queue.pop()
        for name in _imported_names(source):
            if name.partition(".")[0] == PLATFORM:
                continue  # mlserve itself is installed wherever an API runs, even inside mlserve's own repo
            brought_in_by = f"api '{api}': 'import {name}' in {_relative(source, root)}"
            for module in _module_files(name, search, root, brought_in_by):
                if module.is_relative_to(root) and module not in found:
                    found.add(module)
                    queue.append(module)
    return found


def api_files(api: APISpec, root: Path) -> list[Path]:
    """Every project file the API's process reads, sorted: its predictor file, the .py files under
    python_path, the project modules those import, and files or folders a config value names.

    Files outside `root` are never part of an API (the spec checks refuse such paths). New kinds of
    API files (e.g. a static folder) belong here.
    """
    root = Path(root).resolve()
    search = [root]
    files = {api.predictor_file(root)}
    if api.predictor.python_path is not None:
        python_path = (root / api.predictor.python_path).resolve()
        search.insert(0, python_path)
        files.update(walk(python_path, root, f"api '{api.name}': predictor.python_path", _keep(".py")))
    files.update(_named_in_config(api, root))
    if api.networking.static:  # the page served next to the API
        static = _lexical(root, api.networking.static)
        if static.is_relative_to(root) and static.is_dir():
            files.update(walk(static, root, f"api '{api.name}': networking.static", _keep()))
    files.update(_project_imports(sorted(f for f in files if f.suffix == ".py"), search, root, api.name))
    return sorted(f for f in files if f.is_relative_to(root) and f.is_file())


def models_document(api: APISpec, root: Path | None = None) -> dict | None:
    """The models list a deploy pushes to a multi-model API's processes (None for other APIs):
    {"api", "version", and the one of path/paths/dir}. With `root`, relative local references are
    read from there (locally the project folder: the process runs from a snapshot); without it,
    from the process's project folder (the image's)."""
    config = getattr(api.predictor, "multi_model_reloading", None)  # a TaskAPI's definition has none
    if config is None:
        return None
    models = config.models_list()
    document = {"api": api.name, **models, **({"root": str(Path(root).resolve())} if root is not None else {})}
    return {**document, "version": hashlib.sha256(_canonical(document)).hexdigest()[:16]}


def runtime_hash(api: APISpec, root: Path, env: dict[str, str] | None = None) -> str:
    """Hash of the runtime spec (with `env`, see runtime_spec; without the models list, which the
    process takes without a restart) and of every file in `api_files`: equal means the same process."""
    root = Path(root).resolve()
    spec = runtime_spec(api, root, env)
    models = spec.get("predictor", {}).get("multi_model_reloading")  # a TaskAPI has no predictor
    for name in LIST_FIELDS if models else ():
        models.pop(name, None)
    digest = hashlib.sha256(_canonical(spec))
    for f in api_files(api, root):
        data = f.read_bytes()
        digest.update(f"\0{_relative(f, root)}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:16]
