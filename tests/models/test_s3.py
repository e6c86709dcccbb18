"""s3:// model references against a real S3 API (moto's server on 127.0.0.1): push, deploy,
answer; objects changed → new weights on the next deploy, and only then; missing bucket/key → a clear error."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import httpx
import pytest
import yaml
from tiny_gguf import write_tiny_llama_gguf

from mlserve.errors import ModelNotFound
from mlserve.models import list_entries, materialize
from mlserve.models import s3 as s3_models

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / d) for d in ("deploy", "cli")]
from cli_harness import invoke  # noqa: E402
from local_harness import cleanup  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def s3(moto_url, monkeypatch, tmp_path):
    """boto3 and every process started from here talk to the moto server; a private model cache."""
    for name, value in {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "MLSERVE_MODEL_CACHE": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return boto3.client("s3")


def model_folder(tmp_path: Path, seed: int) -> Path:
    """A tiny llama saved as a transformers folder (what `mlserve finetune` writes)."""
    gguf = write_tiny_llama_gguf(tmp_path / f"tiny-{seed}.gguf", seed=seed, hidden=32)
    folder = tmp_path / f"model-{seed}"
    shutil.copytree(materialize(str(gguf), cache=tmp_path / "build-cache"), folder)
    return folder


def test_push_deploy_answer_then_changed_objects_are_fetched(s3, tmp_path):
    s3.create_bucket(Bucket="models")
    result = invoke("models", "push", str(model_folder(tmp_path, 0)), "s3://models/story")
    assert result.exit_code == 0, result.output
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="models")["Contents"]}
    assert "story/config.json" in keys and "story/model.safetensors" in keys
    assert not any("mlserve-entry" in k for k in keys)

    project = tmp_path / "project"
    (project / "predictors").mkdir(parents=True)
    shutil.copy(REPO / "predictors" / "story_generator.py", project / "predictors")
    (project / "cortex.yaml").write_text(yaml.safe_dump([{
        "name": "story", "predictor": {"type": "python", "path": "predictors/story_generator.py",
                                       "config": {"model": "s3://models/story", "max_new_tokens": 12}}}]))
    spec = str(project / "cortex.yaml")
    try:
        result = invoke("deploy", spec)
        assert result.exit_code == 0, result.output
        endpoint = json.loads(invoke("get", "-o", "json", "--spec", spec).stdout)[0]["endpoint"]
        turn = {"story": "You wake in a dark cell.", "action": "look around", "seed": 3}
        first = httpx.post(endpoint, json=turn, timeout=120).json()
        assert first["seed"] == 3 and first["tokens"] > 0 and isinstance(first["passage"], str)
        assert httpx.post(endpoint, json=turn, timeout=120).json()["passage"] == first["passage"]
        [entry] = [e for e in list_entries(Path(os.environ["MLSERVE_MODEL_CACHE"])) if e.path.name.startswith("s3-")]

        result = invoke("models", "push", str(model_folder(tmp_path, 1)), "s3://models/story")
        assert result.exit_code == 0, result.output
        result = invoke("deploy", spec)  # the objects are pinned in the runtime hash: a change restarts
        assert result.exit_code == 0, result.output
        assert "unchanged" not in result.output, result.output
        second = httpx.post(endpoint, json=turn, timeout=120).json()
        entries = [e for e in list_entries(Path(os.environ["MLSERVE_MODEL_CACHE"])) if e.path.name.startswith("s3-")]
        assert len(entries) == 2  # the changed ETags made a new entry: the new weights were fetched
        assert second["passage"] != first["passage"] or second["tokens"] != first["tokens"]
        new = next(e for e in entries if e.path != entry.path)
        assert (new.path / "model.safetensors").read_bytes() == (tmp_path / "model-1" / "model.safetensors").read_bytes()
    finally:
        assert cleanup(project) == []


def test_objects_changed_without_a_deploy_are_never_served(s3, tmp_path):
    """A refresh (or crash restart) runs the pinned, deployed version from the cache; without it
    in the cache, the runtime refuses the new objects with an error naming the URL."""
    s3.create_bucket(Bucket="pinned")
    assert invoke("models", "push", str(model_folder(tmp_path, 0)), "s3://pinned/story").exit_code == 0
    project = tmp_path / "project"
    (project / "predictors").mkdir(parents=True)
    shutil.copy(REPO / "predictors" / "story_generator.py", project / "predictors")
    (project / "cortex.yaml").write_text(yaml.safe_dump([{
        "name": "story", "predictor": {"type": "python", "path": "predictors/story_generator.py",
                                       "config": {"generation": {"model": "s3://pinned/story"},
                                                  "model": "s3://pinned/story", "max_new_tokens": 12}}}]))
    spec = str(project / "cortex.yaml")
    cache = Path(os.environ["MLSERVE_MODEL_CACHE"])
    turn = {"story": "You wake in a dark cell.", "action": "look around", "seed": 3}
    try:
        assert invoke("deploy", spec).exit_code == 0
        endpoint = json.loads(invoke("get", "-o", "json", "--spec", spec).stdout)[0]["endpoint"]
        first = httpx.post(endpoint, json=turn, timeout=120).json()
        [deployed] = [e.path for e in list_entries(cache) if e.path.name.startswith("s3-")]

        assert invoke("models", "push", str(model_folder(tmp_path, 1)), "s3://pinned/story").exit_code == 0
        result = invoke("refresh", "story", "--spec", spec)
        assert result.exit_code == 0, result.output
        assert httpx.post(endpoint, json=turn, timeout=120).json()["passage"] == first["passage"]  # as deployed
        assert [e.path for e in list_entries(cache) if e.path.name.startswith("s3-")] == [deployed]

        shutil.rmtree(deployed)  # the deployed version is gone from the cache: nothing may replace it
        result = invoke("refresh", "story", "--spec", spec)
        assert result.exit_code != 0
        log = "\n".join(invoke("logs", "story", "--spec", spec).stdout.splitlines()[-40:])
        assert "model 's3://pinned/story': its objects changed since `mlserve deploy`" in log, log
        assert "run `mlserve deploy`" in log, log
        assert not [e for e in list_entries(cache) if e.path.name.startswith("s3-")]
    finally:
        assert cleanup(project) == []


def test_same_objects_are_downloaded_once(s3, tmp_path):
    s3.create_bucket(Bucket="once")
    assert invoke("models", "push", str(model_folder(tmp_path, 0)), "s3://once/m").exit_code == 0
    messages = []
    first = materialize("s3://once/m", on_progress=messages.append)
    second = materialize("s3://once/m", on_progress=messages.append)
    assert first == second
    assert sum("downloading" in m for m in messages) == 1


def test_missing_bucket_or_key_is_named(s3, tmp_path):
    with pytest.raises(ModelNotFound, match="bucket 'no-such-bucket' does not exist"):
        materialize("s3://no-such-bucket/story")
    s3.create_bucket(Bucket="empty")
    with pytest.raises(ModelNotFound) as err:
        materialize("s3://empty/story/v2")
    assert "no object 'story/v2'" in err.value.message and "bucket 'empty'" in err.value.message
    assert "mlserve models push" in err.value.hint
    result = invoke("models", "prepare", "s3://no-such-bucket/x")
    assert result.exit_code == 1 and "bucket 'no-such-bucket' does not exist" in result.output


def test_push_refuses_a_folder_without_a_model(s3, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("hi")
    result = invoke("models", "push", str(tmp_path / "notes"), "s3://models/x")
    assert result.exit_code == 1 and "holds no model" in result.stderr


def test_pods_get_the_pins_and_roll_when_the_objects_change(s3, tmp_path):
    from mlserve.deploy.environments import Environment
    from mlserve.deploy.manifests import RUNTIME_HASH
    from mlserve.deploy.render import render_manifests
    from mlserve.spec import load_project

    s3.create_bucket(Bucket="kube")
    s3.put_object(Bucket="kube", Key="m/config.json", Body=b"{}")
    (tmp_path / "p.py").write_text("class P:\n    def predict(self, payload):\n        return payload\n")
    (tmp_path / "cortex.yaml").write_text("- name: qa\n  predictor: {path: p.py, config: {models: [s3://kube/m]}}\n")
    project = load_project(tmp_path)
    env = Environment(name="prod", provider="kubernetes", registry="registry.example.com/t", namespace="serving")

    def template():
        [dep] = [o for o in render_manifests(project, env, image="r/mlserve:1") if o["kind"] == "Deployment"]
        return dep["spec"]["template"]

    first = template()
    pins = {e["name"]: e["value"] for e in first["spec"]["containers"][0]["env"]}["MLSERVE_MODEL_PINS"]
    fetched = s3_models.fetch("s3://kube/m", Path(os.environ["MLSERVE_MODEL_CACHE"]))
    assert json.loads(pins) == {"s3://kube/m": fetched.name}  # the version the runtime fetches
    s3.put_object(Bucket="kube", Key="m/config.json", Body=b'{"changed": true}')
    second = template()
    assert second["metadata"]["annotations"][RUNTIME_HASH] != first["metadata"]["annotations"][RUNTIME_HASH]
    assert second != first


def test_pods_of_an_api_with_s3_models_get_the_environments_aws_access(s3, tmp_path):
    from mlserve.deploy.environments import Environment
    from mlserve.deploy.render import render_manifests
    from mlserve.spec import load_project

    s3.create_bucket(Bucket="creds")
    s3.put_object(Bucket="creds", Key="m/config.json", Body=b"{}")
    (tmp_path / "p.py").write_text("class P:\n    def predict(self, payload):\n        return payload\n")
    (tmp_path / "cortex.yaml").write_text("- name: qa\n  predictor: {path: p.py, config: {model: s3://creds/m}}\n"
                                          "- name: plain\n  predictor: {path: p.py}\n"
                                          "- name: zoo\n  predictor: {path: p.py, multi_model_reloading: "
                                          "{paths: [{name: base, path: p.py}]}}\n")
    env = Environment(name="prod", provider="kubernetes", registry="registry.example.com/t", region="eu-west-1",
                      aws_endpoint_url="http://127.0.0.1:5055", aws_secret="aws-creds")
    containers = {o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]
                  for o in render_manifests(load_project(tmp_path), env, image="r/mlserve:1") if o["kind"] == "Deployment"}
    assert containers["qa"]["envFrom"] == [{"secretRef": {"name": "aws-creds"}}]
    assert {"name": "AWS_ENDPOINT_URL", "value": "http://127.0.0.1:5055"} in containers["qa"]["env"]
    assert "envFrom" not in containers["plain"]  # it never talks to AWS: no credentials in its pods
    # A models list of local models: a later deploy may add an s3:// one to the running pods (no new pod
    # template), so they can reach S3 from the start.
    assert containers["zoo"]["envFrom"] == containers["qa"]["envFrom"]
    assert {"name": "AWS_ENDPOINT_URL", "value": "http://127.0.0.1:5055"} in containers["zoo"]["env"]


def test_configs_without_s3_never_import_boto3(tmp_path):
    (tmp_path / "p.py").write_text("class P:\n    def predict(self, payload):\n        return payload\n")
    (tmp_path / "cortex.yaml").write_text("- name: qa\n  predictor: {path: p.py, config: {model: small}}\n")
    code = ("import sys; from mlserve.spec import load_project; from mlserve.deploy.pins import pinned_env; "
            f"assert pinned_env(load_project({str(tmp_path)!r}).api('qa')) == {{}}; "
            "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
