"""Kubernetes objects rendered from cortex.yaml, validated against current Kubernetes schemas."""

import json
from pathlib import Path

import kubernetes_validate
import pytest

from mlserve.deploy.environments import Environment
from mlserve.deploy.manifests import (
    CONFIG_HASH,
    MANAGED_BY,
    NAME,
    PART_OF,
    RUNTIME_HASH,
    SCALED_BY,
    SPEC_HASH,
    TEMPLATE_HASH,
    assign_ports,
    project_label,
)
from mlserve.deploy.render import render_manifests
from mlserve.spec import load_project, runtime_hash, spec_hash

SCHEMA_VERSIONS = ["1.29.0", "1.37.0"]
PREDICTOR = "class P:\n    def predict(self, payload):\n        return payload\n"
FULL = """\
- name: qa
  predictor:
    path: p.py
    config: {model: small}
    env: {LOG_LEVEL: debug}
    processes_per_replica: 2
    threads_per_process: 2
  compute: {cpu: 500m, mem: 2Gi, gpu: 1}
  autoscaling: {min_replicas: 2, max_replicas: 6, init_replicas: 3, target_replica_concurrency: 2.5}
  update_strategy: {max_surge: 1, max_unavailable: 0}
  networking: {endpoint: /v1/qa}
- name: tiny
  predictor: {path: p.py}
  autoscaling: {max_replicas: 3}
"""
# On the host network a surge cannot work (strategy.py): the same project, replacing pods in place.
HOST_FULL = FULL.replace("max_surge: 1, max_unavailable: 0", "max_surge: 0, max_unavailable: 1")
KUBE = Environment(name="prod", provider="kubernetes", registry="registry.example.com/team", namespace="serving")
HPA = KUBE.model_copy(update=dict(hpa=True))  # opt-in: an HPA per API instead of mlserve's autoscaler


def make_project(root: Path, text: str = FULL):
    (root / "p.py").write_text(PREDICTOR)
    (root / "cortex.yaml").write_text(text)
    return load_project(root)


def by_kind(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


@pytest.mark.parametrize("env", [
    KUBE,
    HPA,
    KUBE.model_copy(update=dict(host_network=True, node_selector={"kubernetes.io/hostname": "n1"},
                                ingress_class="nginx", ingress_host="api.example.com", service_type="LoadBalancer")),
], ids=["plain", "hpa", "host-network-ingress"])
@pytest.mark.parametrize("hpa_version", ["autoscaling/v2", "autoscaling/v2beta2"])
def test_every_object_is_valid(tmp_path, env, hpa_version):
    objects = render_manifests(make_project(tmp_path, HOST_FULL if env.host_network else FULL), env,
                               hpa_version=hpa_version)
    kinds = sorted({o["kind"] for o in objects})
    expected = ({"Deployment", "Service"} | ({"HorizontalPodAutoscaler"} if env.hpa else set())
                | ({"Ingress"} if env.ingress_host else set()))
    assert kinds == sorted(expected)
    for obj in objects:
        if obj["apiVersion"] == "autoscaling/v2beta2":
            continue  # removed from the schemas of current Kubernetes; same shape as v2, checked below
        for version in SCHEMA_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)


def test_v2beta2_hpa_has_the_v2_shape(tmp_path):
    project = make_project(tmp_path)
    v2 = by_kind(render_manifests(project, HPA, hpa_version="autoscaling/v2"), "HorizontalPodAutoscaler", "qa")
    beta = by_kind(render_manifests(project, HPA, hpa_version="autoscaling/v2beta2"), "HorizontalPodAutoscaler", "qa")
    assert beta["apiVersion"] == "autoscaling/v2beta2"
    assert {**beta, "apiVersion": "autoscaling/v2", "metadata": v2["metadata"]} == v2


def test_deployment_follows_the_spec(tmp_path):
    project = make_project(tmp_path)
    dep = by_kind(render_manifests(project, KUBE, image="registry.example.com/team/mlserve:abc"), "Deployment", "qa")
    spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert spec["replicas"] == 3
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert container["image"] == "registry.example.com/team/mlserve:abc"
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "2Gi", "nvidia.com/gpu": "1"},
                                      "limits": {"nvidia.com/gpu": "1"}}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"MLSERVE_SPEC": "/app/cortex.yaml", "MLSERVE_API": "qa", "MLSERVE_HOST": "0.0.0.0",
                   "MLSERVE_PORT": "8080", "LOG_LEVEL": "debug"}
    assert pod["terminationGracePeriodSeconds"] >= 60  # the default request_timeout can finish
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert "hostNetwork" not in pod
    labels = dep["metadata"]["labels"]
    assert labels[NAME] == "qa" and labels[MANAGED_BY] == "mlserve" and labels[PART_OF] == tmp_path.name
    assert dep["metadata"]["annotations"][SPEC_HASH] == spec_hash(project.api("qa"))
    assert SCALED_BY not in labels  # scaled by mlserve's autoscaler
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_hpa_follows_autoscaling(tmp_path):
    objects = render_manifests(make_project(tmp_path), HPA)
    assert by_kind(objects, "Deployment", "qa")["metadata"]["labels"][SCALED_BY] == "hpa"  # the autoscaler skips it
    qa = by_kind(objects, "HorizontalPodAutoscaler", "qa")["spec"]
    assert (qa["minReplicas"], qa["maxReplicas"]) == (2, 6)
    assert qa["metrics"][0]["pods"]["metric"]["name"] == "mlserve_in_flight_requests"
    assert qa["metrics"][0]["pods"]["target"] == {"type": "AverageValue", "averageValue": "2500m"}
    assert qa["metrics"][1]["resource"]["name"] == "cpu"
    tiny = by_kind(objects, "HorizontalPodAutoscaler", "tiny")["spec"]
    assert tiny["minReplicas"] == 1  # Cortex's default min_replicas (a RealtimeAPI cannot have 0: spec/models.py)
    assert [m["type"] for m in tiny["metrics"]] == ["Pods"]  # no CPU request, no CPU target
    assert tiny["metrics"][0]["pods"]["target"]["averageValue"] == "1"  # processes x threads
    assert by_kind(objects, "Deployment", "tiny")["spec"]["replicas"] == 1  # init_replicas: min_replicas


def test_host_network_gets_distinct_stable_ports(tmp_path):
    env = KUBE.model_copy(update=dict(host_network=True, node_selector={"kubernetes.io/hostname": "n1"}))
    objects = render_manifests(make_project(tmp_path, HOST_FULL), env)
    pods = {n: by_kind(objects, "Deployment", n)["spec"]["template"]["spec"] for n in ("qa", "tiny")}
    ports = {n: p["containers"][0]["ports"][0]["containerPort"] for n, p in pods.items()}
    assert ports["qa"] != ports["tiny"]
    assert all(p["hostNetwork"] and p["nodeSelector"] == {"kubernetes.io/hostname": "n1"} for p in pods.values())
    assert ports == {n: int(next(e["value"] for e in pods[n]["containers"][0]["env"] if e["name"] == "MLSERVE_PORT"))
                     for n in ports}
    assert render_manifests(make_project(tmp_path, HOST_FULL), env) == objects


def test_port_assignment():
    class Api:
        def __init__(self, name, port=None):
            self.name = name
            self.networking = type("N", (), {"local_port": port})()

    apis = [Api(f"api-{i}") for i in range(50)] + [Api("pinned", 31000)]
    ports = assign_ports(apis, host_network=True)
    assert len(set(ports.values())) == 51 and ports["pinned"] == 31000
    assert assign_ports(apis[:3], host_network=True) == {a.name: ports[a.name] for a in apis[:3]}
    assert set(assign_ports(apis, host_network=False).values()) == {8080}


def test_ingress_routes_the_endpoint(tmp_path):
    env = KUBE.model_copy(update=dict(ingress_host="api.example.com"))
    ingress = by_kind(render_manifests(make_project(tmp_path), env), "Ingress", "qa")["spec"]
    assert "ingressClassName" not in ingress
    rule = ingress["rules"][0]
    assert rule["host"] == "api.example.com"
    assert rule["http"]["paths"][0]["path"] == "/v1/qa"
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "qa"


def test_ingress_routes_the_page_of_an_api_with_static_files(tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "index.html").write_text("<p>hi</p>")
    project = make_project(tmp_path, FULL.replace("networking: {endpoint: /v1/qa}",
                                                  "networking: {endpoint: /v1/qa, static: web}"))
    env = KUBE.model_copy(update=dict(ingress_host="api.example.com"))
    objects = render_manifests(project, env)
    paths = by_kind(objects, "Ingress", "qa")["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/v1/qa", "Exact"), ("/v1/qa/", "Prefix")]
    assert len(by_kind(objects, "Ingress", "tiny")["spec"]["rules"][0]["http"]["paths"]) == 1
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(by_kind(objects, "Ingress", "qa"), version, strict=True)


def config_hashes(project, env=KUBE, image=None):
    return {(o["kind"], o["metadata"]["name"]): o["metadata"]["annotations"][CONFIG_HASH]
            for o in render_manifests(project, env, image=image)}


def test_config_hash_changes_only_with_what_the_api_depends_on(tmp_path):
    project = make_project(tmp_path)
    before = config_hashes(project)
    # another image tag (any project file changed) leaves every API alone
    assert config_hashes(project, image="elsewhere/x:1") == before
    (tmp_path / "README.md").write_text("docs")
    assert config_hashes(load_project(tmp_path)) == before
    # one API's config changes: only its objects change
    make_project(tmp_path, FULL.replace("model: small", "model: large"))
    after = config_hashes(load_project(tmp_path))
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {("Deployment", "qa")}
    # a setting only the runtime reads (not the objects) still restarts the API
    make_project(tmp_path, FULL.replace("model: small", "model: large").replace(
        "    env: {LOG_LEVEL: debug}\n", "    env: {LOG_LEVEL: debug}\n    max_queue_length: 8\n"))
    queue = config_hashes(load_project(tmp_path))
    assert {k for k in after if after[k] != queue[k]} == {("Deployment", "qa")}
    after = queue
    # the predictor file both APIs use changes: both Deployments change
    (tmp_path / "p.py").write_text(PREDICTOR + "# v2\n")
    again = config_hashes(load_project(tmp_path))
    assert {k for k in after if after[k] != again[k]} == {("Deployment", "qa"), ("Deployment", "tiny")}


def templates(project, image=None):
    return {o["metadata"]["name"]: o["spec"]["template"] for o in render_manifests(project, KUBE, image=image)
            if o["kind"] == "Deployment"}


def test_the_pod_template_changes_only_with_what_the_runtime_reads(tmp_path):
    project = make_project(tmp_path)
    before = templates(project, image="r/x:1")
    qa = before["qa"]["metadata"]["annotations"]
    assert qa[RUNTIME_HASH] == runtime_hash(project.api("qa"), project.root) and TEMPLATE_HASH in qa
    assert SPEC_HASH not in qa  # the whole spec would roll pods on an autoscaling change
    # autoscaling and update strategy: the Deployment (its spec annotation, read by the autoscaler,
    # and strategy) changes, the template does not
    scaled = make_project(tmp_path, FULL.replace("max_replicas: 6", "max_replicas: 9").replace(
        "max_surge: 1", "max_surge: 2"))
    assert templates(scaled, image="r/x:1") == before
    changed = config_hashes(scaled, image="r/x:1")
    base = config_hashes(project, image="r/x:1")
    assert {k for k in base if base[k] != changed[k]} == {("Deployment", "qa")}
    # what the process reads (config, compute, its own admission limit): a new template
    for edit in (("model: small", "model: large"), ("cpu: 500m", "cpu: 1"),
                 ("target_replica_concurrency: 2.5", "target_replica_concurrency: 2.5, max_replica_concurrency: 9")):
        after = templates(make_project(tmp_path, FULL.replace(*edit)), image="r/x:1")
        assert after["qa"]["metadata"]["annotations"][TEMPLATE_HASH] != qa[TEMPLATE_HASH], edit
        assert after["tiny"] == before["tiny"], edit


def test_project_label(tmp_path):
    (tmp_path / "My Project").mkdir()
    assert project_label(tmp_path / "My Project" / "cortex.yaml") == "My-Project"
    assert project_label(tmp_path / "My Project") == "My-Project"
    assert project_label(tmp_path / "My Project" / "staging.yaml") == "My-Project-staging"


def test_dry_run_image_names_the_environment_registry(tmp_path):
    project = make_project(tmp_path)
    image = by_kind(render_manifests(project, KUBE), "Deployment", "qa")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("registry.example.com/team/mlserve:")
    aws = Environment(name="eks", provider="aws", region="eu-west-1", eks_cluster="c", repository="apis")
    image = by_kind(render_manifests(project, aws), "Deployment", "qa")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("<aws-account-id>.dkr.ecr.eu-west-1.amazonaws.com/apis:")


def test_pods_run_unprivileged_in_the_environment_namespace_and_are_scraped(tmp_path):
    objects = render_manifests(make_project(tmp_path), KUBE)
    assert {o["metadata"]["namespace"] for o in objects} == {"serving"}
    pod = by_kind(objects, "Deployment", "qa")["spec"]["template"]
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts and len(mounts) == 2
    assert {v["name"] for v in spec["volumes"]} == {m["name"] for m in container["volumeMounts"]}
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(container["ports"][0]["containerPort"])


def test_api_key_comes_from_a_secret_never_the_deployment(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_KEY", "do-not-print-me")
    project = make_project(tmp_path, FULL.replace("networking: {endpoint: /v1/qa}",
                                                  "networking: {endpoint: /v1/qa, api_key_env: QA_KEY}"))
    objects = render_manifests(project, KUBE)
    assert "do-not-print-me" not in str(objects)
    env = by_kind(objects, "Deployment", "qa")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "QA_KEY", "valueFrom": {"secretKeyRef": {"name": "qa-api-key", "key": "api-key"}}} in env
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(by_kind(objects, "Deployment", "qa"), version, strict=True)


def test_rendered_dockerfile_runs_as_a_non_root_user():
    from mlserve.image.dockerfile import render_dockerfile

    text = render_dockerfile("python:3.11-slim")
    user = [line for line in text.splitlines() if line.startswith("USER ")]
    assert len(user) == 1 and not user[0].split()[1].startswith("0")
    assert text.index("USER ") > text.index("COPY app/")


def test_service_monitor_scrapes_the_api_service(tmp_path, monkeypatch):
    from mlserve.deploy.monitoring import service_monitor

    monkeypatch.setenv("QA_KEY", "k")
    project = make_project(tmp_path, FULL.replace(
        "networking: {endpoint: /v1/qa}",
        "networking: {endpoint: /v1/qa, api_key_env: QA_KEY, metrics_require_api_key: true}"))
    service = by_kind(render_manifests(project, KUBE), "Service", "qa")
    monitor = service_monitor(project.api("qa"), project_label(project.file), "serving")
    assert monitor["metadata"]["namespace"] == "serving"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"] and endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["credentials"] == {"name": "qa-api-key", "key": "api-key"}
    assert "authorization" not in service_monitor(project.api("tiny"), "p", "serving")["spec"]["endpoints"][0]


MULTI = """\
- name: zoo
  predictor:
    path: p.py
    multi_model_reloading:
      paths: [{name: iris, path: s3://models/iris}]
      cache_size: 2
      disk_cache_size: 2
"""


def test_the_models_list_is_a_mounted_configmap_and_a_list_change_rolls_no_pod(tmp_path):
    from mlserve.deploy.reconcile import plan, rollout_needed

    before = render_manifests(make_project(tmp_path, MULTI), KUBE, image="r/x:1")
    configmap, deployment = by_kind(before, "ConfigMap", "zoo-models"), by_kind(before, "Deployment", "zoo")
    listed = json.loads(configmap["data"]["models.json"])
    assert listed["paths"] == [{"name": "iris", "path": "s3://models/iris"}] and "root" not in listed
    assert configmap["metadata"]["labels"][NAME] == "zoo" and configmap["metadata"]["namespace"] == "serving"
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "models", "configMap": {"name": "zoo-models"}} in pod["volumes"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "models")
    assert mount == {"name": "models", "mountPath": "/etc/mlserve/models", "readOnly": True}  # no subPath:
    # kubelet swaps a folder mount's files in place, a subPath mount never sees a change.
    assert {"name": "MLSERVE_MODELS_FILE", "value": "/etc/mlserve/models/models.json"} in pod["containers"][0]["env"]
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(configmap, version, strict=True)
        kubernetes_validate.validate(deployment, version, strict=True)

    # A model added to cortex.yaml (and a new image tag, as any project change makes): only the
    # ConfigMap and the Deployment's spec annotation change; the pod template does not, so no rollout.
    after = render_manifests(make_project(tmp_path, MULTI.replace(
        "}]", "}, {name: wine, path: s3://models/wine}]")), KUBE, image="r/x:2")
    assert by_kind(after, "Deployment", "zoo")["spec"]["template"]["metadata"] == deployment["spec"]["template"]["metadata"]
    changes = plan(after, before, project_label(tmp_path / "cortex.yaml"), namespace="serving")
    assert {(c.kind, c.verb) for c in changes} == {("ConfigMap", "update"), ("Deployment", "update"),
                                                   ("Service", "unchanged")}
    assert rollout_needed(changes) == []
    assert [m["name"] for m in json.loads(by_kind(after, "ConfigMap", "zoo-models")["data"]["models.json"])["paths"]] \
        == ["iris", "wine"]
    # What the process reads at start (the cache size) is a new template: a rollout.
    bigger = render_manifests(make_project(tmp_path, MULTI.replace(": 2", ": 3")), KUBE, image="r/x:2")
    assert rollout_needed(plan(bigger, before, project_label(tmp_path / "cortex.yaml"), namespace="serving")) == ["zoo"]
