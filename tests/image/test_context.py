"""What goes into the build context (.mlserveignore) and the content hash that tags the image."""

import io
import tarfile
from pathlib import Path

import pytest

from mlserve.errors import DeployError
from mlserve.image.context import (
    build_context,
    collect_files,
    dependencies_digest,
    ignore_spec,
    mlserve_package_root,
    runtime_files,
)
from mlserve.spec import load_project
from tests.import_graph import closure, import_graph, modules

CORTEX = """\
- name: greeter
  predictor:
    path: predictors/greeter.py
    config: {greeting: hello}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "predictors").mkdir()
    (tmp_path / "predictors" / "greeter.py").write_text("class P:\n    def predict(self, payload):\n        return 1\n")
    (tmp_path / "cortex.yaml").write_text(CORTEX)
    return tmp_path


def test_mlserveignore_uses_gitignore_syntax(project: Path):
    (project / "data").mkdir()
    (project / "data" / "train.csv").write_text("x")
    (project / "notes").mkdir()
    (project / "notes" / "a.log").write_text("x")
    (project / "notes" / "keep.log").write_text("x")
    (project / "notes" / "b.md").write_text("x")
    (project / ".mlserveignore").write_text("# data stays home\ndata/\n*.log\n!keep.log\n")
    files = collect_files(project, ignore_spec(project))
    assert files == [".mlserveignore", "cortex.yaml", "notes/b.md", "notes/keep.log", "predictors/greeter.py"]


def test_some_folders_are_always_left_out(project: Path):
    for folder in (".git", ".venv", ".mlserve", "predictors/__pycache__"):
        (project / folder).mkdir(parents=True)
        (project / folder / "x.pyc").write_text("x")
    assert collect_files(project, ignore_spec(project)) == ["cortex.yaml", "predictors/greeter.py"]


def test_digest_follows_the_content(project: Path):
    first = build_context(load_project(project), "base:1")
    assert build_context(load_project(project), "base:1").digest == first.digest
    (project / ".mlserveignore").write_text("big.bin\n")
    after_ignore_file = build_context(load_project(project), "base:1").digest
    (project / "big.bin").write_bytes(b"ignored data")
    assert build_context(load_project(project), "base:1").digest == after_ignore_file
    (project / "predictors" / "greeter.py").write_text("class P:\n    pass\n")
    assert build_context(load_project(project), "base:1").digest != after_ignore_file
    assert build_context(load_project(project), "base:2").digest != build_context(load_project(project), "base:1").digest


def test_dependencies_digest_ignores_project_files_but_not_requirements(project: Path):
    deps = dependencies_digest(build_context(load_project(project), "base:1"))
    (project / "predictors" / "greeter.py").write_text("class P:\n    pass\n")
    assert dependencies_digest(build_context(load_project(project), "base:1")) == deps
    (project / "requirements.txt").write_text("six==1.16.0\n")
    ctx = build_context(load_project(project), "base:1")
    assert dependencies_digest(ctx) != deps
    assert "-r /tmp/requirements/project.txt" in ctx.dockerfile


def test_tar_layout_is_reproducible(project: Path, tmp_path_factory):
    wheel = tmp_path_factory.mktemp("w") / "demo-1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    ctx = build_context(load_project(project), "base:1")
    with ctx.write_tar({"packages": [wheel]}) as a, ctx.write_tar({"packages": [wheel]}) as b:
        first, second = a.read(), b.read()
    assert first == second  # no timestamps or owners: the same content gives the same layers
    names = tarfile.open(fileobj=io.BytesIO(first)).getnames()
    assert {"Dockerfile", "requirements/packages.txt", "app/cortex.yaml", "app/predictors/greeter.py",
            "mlserve/runtime/__main__.py", "wheels/packages/demo-1.0-py3-none-any.whl"} <= set(names)
    assert not any("__pycache__" in n for n in names)
    # the runtime, splitter and autoscaler only: nothing of the CLI, the kinds or the deploy backends
    assert not [n for n in names if n.startswith(("mlserve/cli/", "mlserve/deploy/", "mlserve/image/",
                                                   "mlserve/kinds/"))]
    assert {"mlserve/autoscaler/__main__.py", "mlserve/contract/labels.py", "mlserve/asyncapi/gateway.py",
            "mlserve/asyncapi/worker.py", "mlserve/queues/sqlite.py"} <= set(names)


def test_the_image_holds_every_module_its_programs_import():
    """The runtime, the splitter and the autoscaler run from the image: whatever they import
    (at any depth, in functions too) must be in it."""
    files = set(runtime_files())
    graph = import_graph()
    needed = closure(graph, ["mlserve.runtime.__main__", "mlserve.splitter.__main__", "mlserve.autoscaler.__main__",
                             "mlserve.asyncapi.gateway", "mlserve.asyncapi.worker", "mlserve.asyncapi.__main__",
                             "mlserve.queues.sqs", "mlserve.queues.s3", "mlserve.jobs.__main__",
                             "mlserve.jobs.worker", "mlserve.jobs.kube_workers", "mlserve.jobs.s3_store"])
    root = mlserve_package_root()
    missing = sorted(name for name in needed if modules()[name].relative_to(root).as_posix() not in files)
    assert missing == []


def test_the_seed_projects_compose_page_goes_into_the_image():
    repo = Path(__file__).resolve().parents[2]
    files = build_context(load_project(repo), "base:1").project_files
    assert {"web/compose/index.html", "web/compose/compose.js", "web/compose/compose.css"} <= set(files)


def test_a_static_folder_left_out_of_the_image_is_an_error(project: Path):
    (project / "web").mkdir()
    (project / "web" / "index.html").write_text("<p>hi</p>")
    (project / "cortex.yaml").write_text(CORTEX + "  networking: {static: web}\n")
    assert "web/index.html" in build_context(load_project(project), "base:1").project_files
    (project / ".mlserveignore").write_text("web/\n")
    with pytest.raises(DeployError, match="api 'greeter': networking.static 'web' has no file") as info:
        build_context(load_project(project), "base:1")
    assert ".mlserveignore" in info.value.hint


def test_the_serving_image_has_every_module_its_processes_import(tmp_path):
    """The runtime, the traffic splitter and the autoscaler import only what the image carries, and so do
    predictors: what `mlserve` offers them (its errors, stream_result) is there too."""
    import shutil
    import subprocess
    import sys

    from mlserve.image.context import mlserve_package_root, runtime_files

    for f in runtime_files():
        target = tmp_path / "mlserve" / f
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(mlserve_package_root() / f, target)
    modules = ["mlserve.runtime.app", "mlserve.runtime.server", "mlserve.splitter.server", "mlserve.autoscaler.controller",
               "mlserve.autoscaler.kube", "mlserve.models.generation", "mlserve.models.llamacpp", "mlserve.models.s3",
               "mlserve.logs", "mlserve.asyncapi.gateway", "mlserve.asyncapi.worker", "mlserve.asyncapi.launcher",
               "mlserve.queues.sqs", "mlserve.queues.s3", "mlserve.jobs.__main__", "mlserve.jobs.worker",
               "mlserve.jobs.kube_workers", "mlserve.jobs.s3_store"]
    # An editable install's import hook would find the checkout's modules: drop it, as the image has none.
    code = ("import sys, importlib\n"
            "sys.meta_path = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
            f"sys.path.insert(0, {str(tmp_path)!r})\n"
            "import mlserve\n"
            f"assert mlserve.__file__.startswith({str(tmp_path)!r}), mlserve.__file__\n"
            f"for m in {modules!r}:\n"
            "    importlib.import_module(m)\n"
            "from mlserve import MlserveError, RequestError, stream_result\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
