"""An AsyncAPI's Kubernetes objects: a gateway Deployment + Service and a worker Deployment on its queue."""

from pathlib import Path

import kubernetes_validate
import pytest

from mlserve.contract.labels import ASYNC_COMPONENT, ASYNC_WORKER_COMPONENT, COMPONENT, NAME, SPEC, TEMPLATE_HASH
from mlserve.deploy.async_manifests import queue_name
from mlserve.deploy.environments import Environment
from mlserve.deploy.render import render_manifests
from mlserve.spec import load_project
from tests.deploy.test_kubernetes_manifests import PREDICTOR, SCHEMA_VERSIONS, by_kind

ASYNC = """\
- name: story
  kind: AsyncAPI
  predictor: {path: p.py, env: {LOG_LEVEL: debug}}
  compute: {cpu: 1, mem: 1Gi}
  autoscaling: {min_replicas: 1, max_replicas: 4, target_replica_concurrency: 2}
  networking: {endpoint: /v1/story}
  queue: {max_attempts: 2}
- name: qa
  predictor: {path: p.py}
"""
AWS_KUBE = Environment(name="prod", provider="kubernetes", registry="r.example.com/t", namespace="serving",
                       region="eu-west-1", aws_endpoint_url="http://127.0.0.1:5055")


def project(root: Path, text: str = ASYNC):
    (root / "p.py").write_text(PREDICTOR)
    (root / "cortex.yaml").write_text(text)
    return load_project(root)


def env_of(deployment: dict) -> dict:
    return {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


@pytest.mark.parametrize("env", [AWS_KUBE, AWS_KUBE.model_copy(update=dict(
    host_network=True, ingress_class="nginx", ingress_host="api.example.com"))], ids=["plain", "host-network-ingress"])
def test_every_object_is_valid(tmp_path, env):
    objects = [o for o in render_manifests(project(tmp_path), env) if o["metadata"]["labels"][NAME] == "story"]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == sorted(
        [("Deployment", "story"), ("Service", "story"), ("Deployment", "story-worker")]
        + ([("Ingress", "story")] if env.ingress_host else []))
    for obj in objects:
        for version in SCHEMA_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)


def test_gateway_and_workers_share_the_queue_and_the_service_reaches_only_the_gateway(tmp_path):
    objects = render_manifests(project(tmp_path), AWS_KUBE, image="r.example.com/t/mlserve:abc")
    gateway, worker = by_kind(objects, "Deployment", "story"), by_kind(objects, "Deployment", "story-worker")
    service = by_kind(objects, "Service", "story")
    assert gateway["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "python", "-m", "mlserve.asyncapi.gateway", "--spec", "/app/cortex.yaml", "--api", "story",
        "--host", "0.0.0.0", "--port", "8080"]
    assert worker["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "python", "-m", "mlserve.asyncapi.worker", "--spec", "/app/cortex.yaml", "--api", "story"]
    stores = {"MLSERVE_ASYNC_QUEUE": "sqs://mlserve-prod-serving-story.fifo",
              "MLSERVE_ASYNC_RESULTS": "s3://mlserve-async-prod/serving/story",
              "AWS_ENDPOINT_URL": "http://127.0.0.1:5055", "AWS_DEFAULT_REGION": "eu-west-1",
              "LOG_LEVEL": "debug"}
    assert stores.items() <= env_of(gateway).items() and stores.items() <= env_of(worker).items()
    # The container `mlserve logs` and deploy's failure reports read (deploy/cluster.py: Cluster.log).
    assert [d["spec"]["template"]["spec"]["containers"][0]["name"] for d in (gateway, worker)] == ["api", "api"]
    # Both are the API (name label: delete, logs, pruning); the component tells them apart, selectors included.
    assert gateway["metadata"]["labels"][NAME] == worker["metadata"]["labels"][NAME] == "story"
    assert gateway["spec"]["selector"]["matchLabels"][COMPONENT] == ASYNC_COMPONENT
    assert worker["spec"]["selector"]["matchLabels"][COMPONENT] == ASYNC_WORKER_COMPONENT
    assert service["spec"]["selector"] == gateway["spec"]["selector"]["matchLabels"]
    for dep in (gateway, worker):
        assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    # The workers run the predictor with its compute; the gateway only queues.
    assert worker["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert gateway["spec"]["replicas"] == 1
    assert "ports" not in worker["spec"]["template"]["spec"]["containers"][0]
    assert "prometheus.io/scrape" in gateway["spec"]["template"]["metadata"]["annotations"]
    assert "prometheus.io/scrape" not in worker["spec"]["template"]["metadata"]["annotations"]
    assert '"max_attempts": 2' in worker["metadata"]["annotations"][SPEC]  # the autoscaler reads autoscaling here


def test_a_changed_queue_setting_rolls_both_and_another_api_rolls_neither(tmp_path):
    before = render_manifests(project(tmp_path), AWS_KUBE)
    after = render_manifests(project(tmp_path, ASYNC.replace("max_attempts: 2", "max_attempts: 3")), AWS_KUBE)
    other = render_manifests(project(tmp_path, ASYNC.replace("- name: qa", "- name: qb")), AWS_KUBE)

    def template(objects, name):
        return by_kind(objects, "Deployment", name)["spec"]["template"]["metadata"]["annotations"][TEMPLATE_HASH]
    for name in ("story", "story-worker"):
        assert template(before, name) != template(after, name)
        assert template(before, name) == template(other, name)


def test_queue_names_stay_within_sqs_limits_and_apart():
    long = AWS_KUBE.model_copy(update=dict(namespace="n" * 60))
    a, b = queue_name("a" * 40 + "x", long), queue_name("a" * 40 + "y", long)
    assert a != b and a.endswith(".fifo") and len(a.removesuffix(".fifo") + "-dead.fifo") <= 80
    assert queue_name("story", AWS_KUBE.model_copy(update=dict(name="my_env"))) == "mlserve-my_env-serving-story.fifo"


def test_the_environments_aws_secret_reaches_gateway_workers_and_autoscaler_by_reference(tmp_path):
    """Credentials come from the Secret the environment names (envFrom): never written into a manifest."""
    from mlserve.deploy.control_plane import render_control_plane

    env = AWS_KUBE.model_copy(update=dict(aws_secret="aws-creds"))
    objects = render_manifests(project(tmp_path), env, image="r.example.com/t/mlserve:abc")
    autoscaler = next(o for o in render_control_plane(env, image="i", dependencies="d") if o["kind"] == "Deployment")
    reference = [{"secretRef": {"name": "aws-creds"}}]
    for deployment in (by_kind(objects, "Deployment", "story"), by_kind(objects, "Deployment", "story-worker"),
                       autoscaler):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["envFrom"] == reference, deployment["metadata"]["name"]
        assert not any(e["name"].startswith("AWS_SECRET") for e in container["env"])
        for version in SCHEMA_VERSIONS:
            kubernetes_validate.validate(deployment, version, strict=True)
    assert "envFrom" not in by_kind(objects, "Deployment", "qa")["spec"]["template"]["spec"]["containers"][0]
    # Without one the pods use their own chain (a role): nothing is referenced.
    plain = render_manifests(project(tmp_path), AWS_KUBE, image="r.example.com/t/mlserve:abc")
    assert "envFrom" not in by_kind(plain, "Deployment", "story-worker")["spec"]["template"]["spec"]["containers"][0]


def test_an_aws_secret_setting_must_be_a_secret_name():
    with pytest.raises(ValueError, match="is not a Secret name"):
        Environment(name="prod", provider="kubernetes", registry="r", aws_secret="AWS Creds!")
