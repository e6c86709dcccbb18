"""The example's `finetune` TaskAPI (predictors/finetune_task.py, the repository's cortex.yaml entry),
deployed locally: a job fine-tunes the tiny llama on a small text, and its output folder, added to
the story API's model list and deployed, answers a turn: the fine-tune-then-serve story as jobs.
Once with local folders, once with the text and the model in S3 (a real AWS emulator), as on a cluster."""

import shutil
import time
import uuid
from pathlib import Path

import boto3
import httpx
import pytest
import yaml
from local_harness import cleanup
from runtime_harness import REPO
from seed_predictors import load_predictor

import mlserve
from mlserve.deploy.local.backend import LocalBackend
from mlserve.jobs.store import TERMINAL
from mlserve.spec import load_project
from tests.queues.conftest import AWS

pytestmark = pytest.mark.timeout(400)
TURN = {"story": "The knight rode to the castle.", "action": "knock on the gate", "seed": 7,
        "max_new_tokens": 12, "temperature": 0}


def shipped(name: str) -> dict:
    return next(a for a in yaml.safe_load((REPO / "cortex.yaml").read_text()) if a["name"] == name)


def deploy(folder, entries: list[dict]) -> LocalBackend:
    (folder / "cortex.yaml").write_text(yaml.safe_dump(entries))
    backend = LocalBackend.for_project(folder / "cortex.yaml", grace=5)
    backend.deploy(load_project(folder / "cortex.yaml"), lambda _: None)
    return backend


def wait(client: mlserve.Client, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = client.job("finetune", job_id)
        if record["status"] in TERMINAL:
            return record
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still {record['status']} after {timeout}s")


def in_s3(moto_url: str, corpus, monkeypatch) -> tuple[str, str]:
    """The corpus uploaded to a fresh bucket: (its s3:// text prefix, an s3:// output prefix)."""
    for key, value in {**AWS, "AWS_ENDPOINT_URL": moto_url}.items():
        monkeypatch.setenv(key, value)  # this process's and the deployed processes' AWS settings
    bucket = f"tune-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    for path in corpus.iterdir():
        s3.upload_file(str(path), bucket, f"corpus/{path.name}")
    return f"s3://{bucket}/corpus", f"s3://{bucket}/story-tuned"


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_finetune_job_writes_a_model_the_story_api_then_serves(where, tmp_path, tiny_model, corpus, monkeypatch,
                                                                request):
    monkeypatch.setenv("MLSERVE_MODEL_CACHE", str(tmp_path / "cache"))  # the deployed processes' cache too
    project = tmp_path / "project"
    (project / "predictors").mkdir(parents=True)
    for name in ("finetune_task.py", "story_generator.py"):
        shutil.copy(REPO / "predictors" / name, project / "predictors")
    task = shipped("finetune")
    assert task["kind"] == "TaskAPI" and task["definition"]["config"]["steps"] <= 10  # a short run by default
    text, output = str(corpus), str(tmp_path / "story-tuned")
    if where == "s3":
        text, output = in_s3(request.getfixturevalue("moto_url"), corpus, monkeypatch)
    try:
        deploy(project, [task])
        client = mlserve.Client("local", project / "cortex.yaml")
        bad = wait(client, client.submit_job("finetune", {"config": {"text": text}})["job_id"])
        assert bad["status"] == "failed"
        assert any("config needs output" in line for line in client.job_logs("finetune", bad["job_id"]))
        config = {"text": text, "output": output, "base": tiny_model, "steps": 3, "seq_len": 32,
                  "lr": 1e-2, "threads": 1}
        record = wait(client, client.submit_job("finetune", {"config": config})["job_id"])
        logs = client.job_logs("finetune", record["job_id"])
        assert record["status"] == "succeeded", "\n".join(logs)
        assert any(f"done: {output}: held-out loss" in line for line in logs)
        if where == "s3":
            bucket, _, prefix = output.removeprefix("s3://").partition("/")
            listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix + "/")["Contents"]
            written = {o["Key"].removeprefix(prefix + "/") for o in listed}
        else:
            written = {p.name for p in Path(output).iterdir()}
        assert {"finetune.json", "model.safetensors"} <= written and not any(".checkpoint" in w for w in written)

        story = shipped("story-generator")
        story["predictor"]["multi_model_reloading"]["paths"] = [{"name": "tuned", "path": output}]
        story["predictor"]["config"] |= {"default_model": "tuned"}
        backend = deploy(project, [task, story])
        url = backend.endpoint("story-generator")
        deadline = time.monotonic() + 180
        while True:
            try:
                answer = httpx.post(url, json={**TURN, "model": "tuned"}, timeout=60)
                if answer.status_code != 503 or time.monotonic() > deadline:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the story API never answered"
            time.sleep(0.5)
        assert answer.status_code == 200, answer.text
        alone = load_predictor("story_generator", {"model": output, "threads": 1}).predict(TURN)
        assert answer.json()["passage"] == alone["passage"] and answer.json()["tokens"] == alone["tokens"] > 0
    finally:
        assert cleanup(project) == [], "processes were left behind after delete"
