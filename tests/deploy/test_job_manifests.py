"""A BatchAPI's and a TaskAPI's Kubernetes objects: the job service (Deployment + Service + its RBAC)
and the Job each submitted job becomes (the deploy's template, filled in by the service)."""

import json
from pathlib import Path

import kubernetes_validate
import pytest

from mlserve.contract.labels import COMPONENT, JOB_COMPONENT, JOB_ID, JOB_WORKER_COMPONENT, NAME, SPEC
from mlserve.deploy.environments import Environment
from mlserve.deploy.render import render_manifests
from mlserve.jobs.kube_workers import job_name, job_object
from mlserve.spec import load_project
from tests.deploy.test_kubernetes_manifests import SCHEMA_VERSIONS, by_kind

BATCH = "class B:\n    def predict(self, payload, batch_id):\n        pass\n"
TASK = "class Task:\n    def __call__(self, config):\n        pass\n"
JOBS = """\
- name: translate
  kind: BatchAPI
  predictor: {path: b.py, env: {AWS_ACCESS_KEY_ID: testing}}
  compute: {cpu: 1, mem: 1Gi}
- name: tune
  kind: TaskAPI
  definition: {path: t.py}
"""
ENV = Environment(name="prod", provider="kubernetes", registry="r.example.com/t", namespace="serving",
                  region="eu-west-1", aws_endpoint_url="http://127.0.0.1:5055",
                  autoscaler_api_server="https://127.0.0.1:6443")


def project(root: Path):
    (root / "b.py").write_text(BATCH)
    (root / "t.py").write_text(TASK)
    (root / "cortex.yaml").write_text(JOBS)
    return load_project(root)


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value") for e in container["env"]}


def template_of(objects: list[dict], api: str) -> dict:
    return json.loads(env_of(by_kind(objects, "Deployment", api)["spec"]["template"]["spec"]["containers"][0])[
        "MLSERVE_JOB_TEMPLATE"])


def record(api: str, kind: str, **extra) -> dict:
    return {"job_id": "18c0ffee0a1b2c", "api": api, "kind": kind, "workers": 3, "timeout": None, **extra}


@pytest.mark.parametrize("env", [ENV, ENV.model_copy(update=dict(
    host_network=True, node_selector={"kubernetes.io/hostname": "n1"}, ingress_host="api.example.com"))],
    ids=["plain", "host-network-ingress"])
def test_every_object_and_the_jobs_made_from_the_template_are_valid(tmp_path, env):
    objects = render_manifests(project(tmp_path), env)
    for api in ("translate", "tune"):
        own = [o for o in objects if o["metadata"]["labels"][NAME] == api]
        assert sorted((o["kind"], o["metadata"]["name"]) for o in own) == sorted(
            [("Deployment", api), ("Service", api), ("ServiceAccount", f"{api}-jobs"), ("Role", f"{api}-jobs"),
             ("RoleBinding", f"{api}-jobs")] + ([("Ingress", api)] if env.ingress_host else []))
        kind = "BatchAPI" if api == "translate" else "TaskAPI"
        job = job_object(template_of(objects, api), record(api, kind, timeout=60.5),
                         {"name": api, "uid": "0b5c1f6e-1111-2222-3333-444455556666"})
        for obj in [*own, job]:
            for version in SCHEMA_VERSIONS:
                kubernetes_validate.validate(obj, version, strict=True)


def test_the_service_runs_the_job_service_on_s3_records_with_a_role_for_jobs_only(tmp_path):
    objects = render_manifests(project(tmp_path), ENV, image="r.example.com/t/mlserve:abc")
    server, svc = by_kind(objects, "Deployment", "translate"), by_kind(objects, "Service", "translate")
    pod = server["spec"]["template"]["spec"]
    assert pod["containers"][0]["command"] == [
        "python", "-m", "mlserve.jobs", "--spec", "/app/cortex.yaml", "--api", "translate", "--host", "0.0.0.0",
        "--port", "8080", "--jobs-dir", "s3://mlserve-async-prod/serving/translate",
        "--queue-prefix", "mlserve-prod-serving-translate"]
    settings = env_of(pod["containers"][0])
    assert {"AWS_ENDPOINT_URL": "http://127.0.0.1:5055", "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "testing", "MLSERVE_JOBS_API_SERVER": "https://127.0.0.1:6443"}.items() \
        <= settings.items()
    # One service, never two side by side (both would supervise the same jobs), with the Role's account.
    assert server["spec"]["replicas"] == 1 and server["spec"]["strategy"] == {"type": "Recreate"}
    assert pod["serviceAccountName"] == "translate-jobs"
    assert pod["containers"][0]["resources"] == {"requests": {"memory": "128Mi"}}  # no CPU share taken
    role = by_kind(objects, "Role", "translate-jobs")
    assert {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "delete"]} in role["rules"]
    assert {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["translate"],
            "verbs": ["get"]} in role["rules"]  # its own Deployment only: the Jobs' owner
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in role["rules"])
    binding = by_kind(objects, "RoleBinding", "translate-jobs")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "translate-jobs", "namespace": "serving"}]
    # The Service reaches the job service's pod, never a job's worker pods.
    assert svc["spec"]["selector"] == server["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["selector"][COMPONENT] == JOB_COMPONENT
    assert server["metadata"]["annotations"][SPEC] and '"kind": "BatchAPI"' in server["metadata"]["annotations"][SPEC]


def test_a_batch_job_has_a_pod_per_worker_and_a_task_one_pod_run_once(tmp_path):
    objects = render_manifests(project(tmp_path), ENV, image="r.example.com/t/mlserve:abc")
    owner = {"name": "translate", "uid": "u-1"}
    batch = job_object(template_of(objects, "translate"), record("translate", "BatchAPI", timeout=90.2), owner)
    assert batch["metadata"]["name"] == "translate-18c0ffee0a1b2c"
    assert batch["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    spec = batch["spec"]
    assert (spec["parallelism"], spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (3, 9, 91)
    assert "completions" not in spec  # a work queue: done when one pod finished and none runs
    pod = spec["template"]
    assert pod["metadata"]["labels"][JOB_ID] == batch["metadata"]["labels"][JOB_ID] == "18c0ffee0a1b2c"
    assert pod["metadata"]["labels"][COMPONENT] == JOB_WORKER_COMPONENT
    container = pod["spec"]["containers"][0]
    assert container["command"] == [
        "python", "-m", "mlserve.jobs.worker", "--spec", "/app/cortex.yaml", "--api", "translate",
        "--jobs-dir", "s3://mlserve-async-prod/serving/translate", "--job", "18c0ffee0a1b2c"]
    assert container["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}  # the API's compute
    assert {"AWS_ENDPOINT_URL": "http://127.0.0.1:5055", "AWS_ACCESS_KEY_ID": "testing"}.items() <= env_of(container).items()
    assert "ports" not in container and pod["spec"]["restartPolicy"] == "Never"
    assert container["name"] == "api"  # the container `mlserve logs API` reads, in every pod of the API
    task = job_object(template_of(objects, "tune"), record("tune", "TaskAPI"), None)["spec"]
    assert (task["parallelism"], task["completions"], task["backoffLimit"]) == (1, 1, 0)
    assert "activeDeadlineSeconds" not in task


def test_job_names_stay_within_kubernetes_limits():
    name = job_name("a" * 70, "18c0ffee0a1b2c")
    assert len(name) <= 63 and name.endswith("-18c0ffee0a1b2c")


def test_the_service_and_the_job_pods_load_the_credentials_secret_the_environment_names(tmp_path):
    # `mlserve env set --aws-secret NAME`: the job service (queues, records) and every job pod (the task's
    # own S3 reads and writes) get the Secret's keys, as an AsyncAPI's pods and s3:// model pods do.
    env = ENV.model_copy(update={"aws_secret": "mlserve-aws"})
    objects = render_manifests(project(tmp_path), env, image="r.example.com/t/mlserve:abc")
    for api in ("translate", "tune"):
        service_container = by_kind(objects, "Deployment", api)["spec"]["template"]["spec"]["containers"][0]
        job = job_object(template_of(objects, api), record(api, "TaskAPI"), None)
        for container in (service_container, job["spec"]["template"]["spec"]["containers"][0]):
            assert container["envFrom"] == [{"secretRef": {"name": "mlserve-aws"}}], (api, container)
            assert {"AWS_ENDPOINT_URL": "http://127.0.0.1:5055", "AWS_DEFAULT_REGION": "eu-west-1"}.items() \
                <= env_of(container).items()
    without = render_manifests(project(tmp_path), ENV, image="r.example.com/t/mlserve:abc")
    assert "envFrom" not in template_of(without, "tune")["spec"]["template"]["spec"]["containers"][0]
