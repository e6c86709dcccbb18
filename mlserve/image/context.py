"""The build context of a serving image: which files go in, and the content hash that tags it.

`.mlserveignore` in the project folder uses gitignore syntax; a few folders that never belong
in an image (.git, virtualenvs, caches, mlserve's local state) are always left out.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

import mlserve
from mlserve.errors import DeployError
from mlserve.image.dockerfile import render_dockerfile
from mlserve.image.needs import ImageNeeds, image_needs
from mlserve.image.requirements import project_requirements
from mlserve.spec import Project
from mlserve.spec.links import FIX, walk

IGNORE_FILE = ".mlserveignore"
ALWAYS_IGNORED = [
    ".git/", ".hg/", ".svn/", ".mlserve/", ".venv/", "venv/", "__pycache__/", "*.pyc",
    ".pytest_cache/", ".mypy_cache/", ".ruff_cache/", ".ipynb_checkpoints/", "node_modules/", ".DS_Store",
]


def ignore_spec(root: Path) -> pathspec.GitIgnoreSpec:
    lines = list(ALWAYS_IGNORED)
    ignore_file = root / IGNORE_FILE
    if ignore_file.is_file():
        lines += ignore_file.read_text(encoding="utf-8").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def collect_files(root: Path, spec: pathspec.PathSpec | None = None) -> list[str]:
    """Relative POSIX paths of the files under `root` that are not ignored, sorted; symlinks are
    taken by deploy's one rule (spec/links.py): inside the project as what they point to, else an error."""
    spec = spec or pathspec.GitIgnoreSpec.from_lines(ALWAYS_IGNORED)
    root = root.resolve()

    def keep(rel: str, is_dir: bool) -> bool:
        # An ignored folder is pruned, so a large ignored data folder is never walked.
        return not spec.match_file(rel + "/" if is_dir else rel)

    files = walk(root, root, f"the image build context ({root})", keep,
                 hint=f"{FIX}; or leave it out of the image with a line in {IGNORE_FILE}")
    return sorted(f.relative_to(root).as_posix() for f in files)


@dataclass
class BuildContext:
    """Everything an image is built from, except the wheels (which follow from the requirements)."""

    dockerfile: str
    needs: ImageNeeds
    project_requirements: str | None
    project_root: Path
    project_files: list[str]
    mlserve_root: Path
    mlserve_files: list[str]
    digest: str = field(default="")

    def members(self) -> list[tuple[str, Path | bytes]]:
        """(name in the context, file path or content), wheels excluded."""
        out: list[tuple[str, Path | bytes]] = [
            ("Dockerfile", self.dockerfile.encode()),
            ("requirements/packages.txt", self.needs.text(self.needs.packages).encode()),
        ]
        if self.needs.weights:
            out.append(("requirements/weights.txt", self.needs.text(self.needs.weights).encode()))
        if self.project_requirements is not None:
            out.append(("requirements/project.txt", self.project_requirements.encode()))
        out += [(f"mlserve/{f}", self.mlserve_root / f) for f in self.mlserve_files]
        out += [(f"app/{f}", self.project_root / f) for f in self.project_files]
        return out

    def size(self) -> int:
        return sum(len(v) if isinstance(v, bytes) else v.stat().st_size for _, v in self.members())

    def write_tar(self, wheels: dict[str, list[Path]]):
        """The context as an uncompressed tar in a temporary file (torch's wheels alone are
        hundreds of MB), ready for the docker build API. `wheels`: folder under wheels/ -> files."""
        out = tempfile.TemporaryFile()
        with tarfile.open(fileobj=out, mode="w") as tar:
            for name, value in self.members():
                _add(tar, name, value)
            for folder, files in wheels.items():
                _add(tar, f"wheels/{folder}/.keep", b"")
                for wheel in files:
                    _add(tar, f"wheels/{folder}/{wheel.name}", wheel)
        out.seek(0)
        return out


def _add(tar: tarfile.TarFile, name: str, value: Path | bytes) -> None:
    info = tarfile.TarInfo(name)
    # Fixed metadata: the same content gives the same layers whatever the checkout time.
    info.mode = 0o755 if isinstance(value, Path) and os.access(value, os.X_OK) else 0o644
    info.mtime = 0
    if isinstance(value, bytes):
        info.size = len(value)
        tar.addfile(info, io.BytesIO(value))
        return
    info.size = value.stat().st_size
    with value.open("rb") as f:
        tar.addfile(info, f)


# The parts of mlserve a serving image runs (user predictors may import errors, models and finetune), the
# splitter, the autoscaler, the AsyncAPI gateway and workers (asyncapi, queues) and the job APIs' services
# and workers (jobs) run from the same image, and the vocabulary they share (contract);
# the CLI, the kinds and the deploy backends stay out, so changing them restarts no API.
RUNTIME_PARTS = ("__init__.py", "errors.py", "files.py", "logs.py", "extras.py", "completions.py", "abandon.py",
                 "streamed.py", "contract", "spec", "runtime", "models", "autoscaler", "splitter", "queues",
                 "asyncapi", "jobs", "finetune")


def mlserve_package_root() -> Path:
    return Path(mlserve.__file__).resolve().parent


def runtime_files() -> list[str]:
    return [f for f in collect_files(mlserve_package_root())
            if f.split("/", 1)[0] in RUNTIME_PARTS]


def build_context(project: Project, base_image: str) -> BuildContext:
    root = project.root
    requirements = project_requirements(root)
    needs = image_needs(project, requirements)
    ctx = BuildContext(
        dockerfile=render_dockerfile(base_image, spec_file=project.file.relative_to(root).as_posix(),
                                     project_requirements=requirements is not None, weights=bool(needs.weights)),
        needs=needs,
        project_requirements=requirements,
        project_root=root,
        project_files=collect_files(root, ignore_spec(root)),
        mlserve_root=mlserve_package_root(),
        mlserve_files=runtime_files(),
    )
    _check_static_folders(project, ctx.project_files)
    ctx.digest = context_digest(ctx)
    return ctx


def _check_static_folders(project: Project, files: list[str]) -> None:
    """An API's page (networking.static) must reach the image, or the API serves only 404s."""
    for api in project.served():
        folder = api.static_folder(project.root)
        if folder is None:
            continue
        prefix = folder.relative_to(project.root).as_posix() + "/"
        if not any(f.startswith(prefix) for f in files):
            raise DeployError(f"api '{api.name}': networking.static '{api.networking.static}' has no file that "
                              f"goes into the image", hint=f"put the page's files there, or remove the "
                              f"{IGNORE_FILE} pattern that leaves them out")


def context_digest(ctx: BuildContext) -> str:
    """sha256 over every member's name and bytes: the image tag."""
    digest = hashlib.sha256()
    for name, value in ctx.members():
        data = value if isinstance(value, bytes) else value.read_bytes()
        digest.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0")
        digest.update(data)
    return digest.hexdigest()


def dependencies_digest(ctx: BuildContext) -> str:
    """What every API's runtime depends on besides its own files: base, packages, mlserve itself."""
    digest = hashlib.sha256()
    for name, value in ctx.members():
        if name.startswith("app/"):
            continue
        digest.update(name.encode() + b"\0")
        digest.update(value if isinstance(value, bytes) else value.read_bytes())
    return digest.hexdigest()[:16]
