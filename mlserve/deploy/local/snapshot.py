"""What a local API runs: a copy of its runtime spec and files, taken by `deploy`.

    .mlserve/snapshots/<api>/<runtime-hash>/cortex.yaml   the API's runtime spec, paths relative
    .mlserve/snapshots/<api>/<runtime-hash>/<files>       copies of `spec.hashing.api_files`

The runtime, its crash restarts and `mlserve refresh` run from the snapshot, never from the working
tree, so an edit that was not deployed changes nothing. The folder is named by the runtime hash of
the *copy*, so its name always describes what is in it, even if a file changed while it was copied.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

from mlserve.deploy.local.files import PRIVATE_FILE
from mlserve.deploy.local.state import APIRecord, StateDir
from mlserve.errors import DeployError, MlserveError
from mlserve.spec import APISpec, Project, api_files, load_project, runtime_hash, runtime_spec

SPEC_NAME = "cortex.yaml"


def folder(state: StateDir) -> Path:
    return state.path / "snapshots"


def spec_file(snapshot: str | Path) -> Path:
    return Path(snapshot) / SPEC_NAME


def hash_of(snapshot: str | Path, api: str) -> str | None:
    """The runtime hash of what a snapshot holds, or None when it is missing or unreadable."""
    try:
        project = load_project(spec_file(snapshot))
        return runtime_hash(project.entry(api), project.root)
    except (MlserveError, OSError):
        return None


def runs_unchanged(rec: APIRecord, wanted: str) -> bool:
    """Whether the recorded snapshot is intact and is what the working tree now describes."""
    return bool(rec.snapshot) and rec.runtime_hash == wanted and hash_of(rec.snapshot, rec.name) == wanted


def take(state: StateDir, project: Project, api: APISpec, env: dict[str, str] | None = None) -> tuple[str, Path]:
    """Copy the API's runtime spec (with `env`: model pins) and files into a new snapshot;
    returns (runtime hash, folder)."""
    base = state.private(folder(state) / api.name)
    staging = base / f".staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    state.private(staging)
    root = project.root.resolve()
    for source in api_files(api, root):
        target = staging / source.relative_to(root)
        state.private(target.parent)
        shutil.copyfile(source, target)
        os.chmod(target, PRIVATE_FILE)
    data = runtime_spec(api, root, env)
    if api.predictor.python_path is not None:
        state.private(staging / data[getattr(api, "code_field", "predictor")]["python_path"])  # it may hold no .py file
    spec = spec_file(staging)
    spec.write_text("# What this API runs, copied by `mlserve deploy`: do not edit.\n"
                    + yaml.safe_dump([data], sort_keys=False), encoding="utf-8")
    os.chmod(spec, PRIVATE_FILE)
    digest = hash_of(staging, api.name)
    if digest is None:
        shutil.rmtree(staging, ignore_errors=True)
        raise DeployError(f"api '{api.name}': the copy of its files under {base} cannot be loaded",
                           hint="check that the disk is not full and deploy again")
    final = base / digest
    if hash_of(final, api.name) == digest:  # an intact earlier copy of the same content
        shutil.rmtree(staging, ignore_errors=True)
    else:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
    return digest, final


def prune(state: StateDir, records: dict[str, APIRecord]) -> None:
    """Delete every snapshot that no recorded API runs."""
    keep = {Path(rec.snapshot) for rec in records.values() if rec.snapshot}
    root = folder(state)
    if not root.is_dir():
        return
    for api_folder in root.iterdir():
        for snapshot in api_folder.iterdir() if api_folder.is_dir() else []:
            if snapshot not in keep:
                shutil.rmtree(snapshot, ignore_errors=True)
        if api_folder.is_dir() and not any(api_folder.iterdir()):
            api_folder.rmdir()
