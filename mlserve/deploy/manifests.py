"""Kubernetes objects for the APIs of a project: Deployment, Service, HPA and optional Ingress.

Every object carries the standard labels, the API's spec hash, and a config hash over what
the object would do. The config hash counts the API's runtime hash and the image's
dependencies, but not the image tag: the tag changes with any project file (cortex.yaml
included), and an API whose own files and settings did not change must be left running untouched.

The pod template carries only the runtime hash and a template hash (the template as rendered,
image replaced by runtime hash + dependencies): an autoscaling or update-strategy change alters
the Deployment or HPA but not the template, so `reconcile.py` keeps the live template and no pod
restarts. Pods are pinned: the image tag is a content hash and the runtime reads the spec from it.

A multi-model API's models list is a ConfigMap (`<api>-models`) mounted as a folder, not with
subPath, so kubelet swaps the file in place and the runtime re-reads it: a list change updates the
ConfigMap alone, the template stays, and no pod restarts.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from mlserve.contract import env as envvars
from mlserve.contract.labels import (  # noqa: F401  (the names other modules import from here)
    API_COMPONENT,
    COMPONENT,
    CONFIG_HASH,
    MANAGED_BY,
    MANAGER,
    NAME,
    PART_OF,
    RUNTIME_HASH,
    SCALED_BY,
    SPEC,
    SPEC_HASH,
    TEMPLATE_HASH,
)
from mlserve.deploy.api_keys import key_env
from mlserve.deploy.aws_access import grant_aws
from mlserve.deploy.environments import Environment
from mlserve.deploy.pins import pinned_env
from mlserve.deploy.strategy import rolling_update
from mlserve.image.dockerfile import APP_DIR, CONTAINER_PORT, HOME_DIR, RUNTIME_UID
from mlserve.spec import APISpec, Project, models_document, parse_duration, runtime_hash, spec_hash

HPA_VERSIONS = ("autoscaling/v2", "autoscaling/v2beta2")
SERVICE_PORT = 80
# Where a multi-model API's pods read its deployed models list (a ConfigMap's key, mounted as a folder).
MODELS_MOUNT, MODELS_KEY = "/etc/mlserve/models", "models.json"
# Host-network pods bind node ports: each API gets its own, stable across deploys.
HOST_PORT_RANGE = (20000, 40000)


def project_label(spec_file: Path) -> str:
    """A label value naming the project: its folder, plus the spec file's name if not cortex.yaml."""
    spec_file = Path(spec_file).resolve()
    if spec_file.is_dir():
        spec_file = spec_file / "cortex.yaml"
    name = spec_file.parent.name + ("" if spec_file.stem == "cortex" else f"-{spec_file.stem}")
    clean = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-_.")
    return (clean or "project")[:63].rstrip("-_.")


def labels(api_name: str, project: str) -> dict[str, str]:
    return {NAME: api_name, MANAGED_BY: MANAGER, PART_OF: project, COMPONENT: API_COMPONENT}


def selector(api_name: str) -> dict[str, str]:
    return {NAME: api_name, MANAGED_BY: MANAGER}


def assign_ports(apis: list[APISpec], host_network: bool) -> dict[str, int]:
    """The container port of every API (and traffic splitter): shared 8080, or distinct stable
    ports on the host network."""
    if not host_network:
        return {api.name: CONTAINER_PORT for api in apis}
    lo, hi = HOST_PORT_RANGE
    ports = {api.name: api.networking.local_port for api in apis if api.networking.local_port}
    taken = set(ports.values())
    for api in sorted(apis, key=lambda a: a.name):
        if api.name in ports:
            continue
        port = lo + int(hashlib.sha256(api.name.encode()).hexdigest(), 16) % (hi - lo)
        while port in taken:
            port = lo + (port + 1 - lo) % (hi - lo)
        ports[api.name] = port
        taken.add(port)
    return ports


def quantity(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{round(value * 1000)}m"


def resources(api: APISpec) -> dict:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if api.compute.cpu:
        requests["cpu"] = api.compute.cpu
    if api.compute.mem:
        requests["memory"] = api.compute.mem
    if api.compute.gpu:
        # GPUs are requested through limits (requests must equal them).
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(api.compute.gpu)
    return {k: v for k, v in (("requests", requests), ("limits", limits)) if v}


def deployment(api: APISpec, project: Project, env: Environment, image: str, port: int,
                extra_env: dict[str, str]) -> dict:
    meta: dict[str, Any] = {"name": api.name, "labels": labels(api.name, project_label(project.file))}
    container = {
        "name": "api",
        "image": image,
        "imagePullPolicy": "IfNotPresent",  # tags are content hashes: a tag never changes
        "env": [
            {"name": envvars.SPEC, "value": f"{APP_DIR}/{project.file.name}"},
            {"name": envvars.API, "value": api.name},
            {"name": envvars.HOST, "value": "0.0.0.0"},
            {"name": envvars.PORT, "value": str(port)},
            *({"name": k, "value": v} for k, v in sorted({**api.predictor.env, **extra_env}.items())),
            *key_env(api),
        ],
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "resources": resources(api),
        # /healthz answers while the model loads; /readyz only once __init__ finished.
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"},
                           "periodSeconds": 2, "timeoutSeconds": 2, "failureThreshold": 2},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                          "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        # The only writable places: temp files (worker metrics) and HOME (model and hub caches).
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "home", "mountPath": HOME_DIR}],
    }
    pod: dict = {
        "containers": [container],
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUNTIME_UID, "runAsGroup": RUNTIME_UID,
                            "fsGroup": RUNTIME_UID, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "home", "emptyDir": {}}],
        # The runtime drains in-flight requests on SIGTERM; give the slowest one time to finish.
        "terminationGracePeriodSeconds": int(api.predictor.request_timeout) + 10,
    }
    if api.predictor.multi_model_reloading is not None:
        container["env"].append({"name": envvars.MODELS_FILE, "value": f"{MODELS_MOUNT}/{MODELS_KEY}"})
        container["volumeMounts"].append({"name": "models", "mountPath": MODELS_MOUNT, "readOnly": True})
        pod["volumes"].append({"name": "models", "configMap": {"name": models_configmap_name(api.name)}})
    if env.host_network:
        pod.update(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")
    if env.node_selector:
        pod["nodeSelector"] = dict(env.node_selector)
    if api.compute.gpu:
        pod["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": api.autoscaling.init_replicas,
            "selector": {"matchLabels": selector(api.name)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": rolling_update(api, project, env)},
            "template": {"metadata": {"labels": dict(meta["labels"])}, "spec": pod},
        },
    }


def models_configmap_name(api_name: str) -> str:
    return f"{api_name}-models"


def _models_configmap(api: APISpec, project: Project, document: dict) -> dict:
    """The deployed models list; relative local references are read from the image's project folder."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": models_configmap_name(api.name), "labels": labels(api.name, project_label(project.file))},
            "data": {MODELS_KEY: json.dumps(document, indent=2, sort_keys=True)}}


def service(api: APISpec, project: Project, env: Environment) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": api.name, "labels": labels(api.name, project_label(project.file))},
        "spec": {"type": env.service_type, "selector": selector(api.name),
                 "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}]},
    }


def _hpa(api: APISpec, project: Project, hpa_version: str) -> dict:
    a = api.autoscaling
    # In-flight requests per replica (a custom metric from the runtime's /metrics, served by a
    # metrics adapter); CPU as well when the API requests CPU, so clusters without the adapter still scale.
    metrics: list[dict] = [{"type": "Pods", "pods": {
        "metric": {"name": "mlserve_in_flight_requests"},
        "target": {"type": "AverageValue", "averageValue": quantity(a.target_replica_concurrency)},
    }}]
    if api.compute.cpu:
        metrics.append({"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}})
    window = int(parse_duration(a.window))
    return {
        "apiVersion": hpa_version,
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": api.name, "labels": labels(api.name, project_label(project.file))},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": api.name},
            "minReplicas": max(1, a.min_replicas),  # HPAs cannot scale to zero
            "maxReplicas": a.max_replicas,
            "metrics": metrics,
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": min(3600, int(parse_duration(a.upscale_stabilization_period))),
                    "policies": [{"type": "Percent", "value": max(1, round((a.max_upscale_factor - 1) * 100)),
                                  "periodSeconds": max(1, min(1800, window))}],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": min(3600, int(parse_duration(a.downscale_stabilization_period))),
                    "policies": [{"type": "Percent", "value": max(1, round((1 - a.max_downscale_factor) * 100)),
                                  "periodSeconds": max(1, min(1800, window))}],
                },
            },
        },
    }


def ingress(api: APISpec, project: Project, env: Environment) -> dict:
    backend = {"service": {"name": api.name, "port": {"number": SERVICE_PORT}}}
    paths = [{"path": api.endpoint, "pathType": "Exact", "backend": backend}]
    if api.networking.static:  # the page's files under <endpoint>/
        paths.append({"path": api.endpoint.rstrip("/") + "/", "pathType": "Prefix", "backend": backend})
    rule: dict = {"http": {"paths": paths}}
    if env.ingress_host:
        rule["host"] = env.ingress_host
    spec: dict = {"rules": [rule]}
    if env.ingress_class:
        spec["ingressClassName"] = env.ingress_class
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": api.name, "labels": labels(api.name, project_label(project.file))}, "spec": spec}


def scrape_annotations(port: int) -> dict[str, str]:
    """Where Prometheus (kubernetes_sd pod role, the common annotation convention) finds /metrics."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": "/metrics"}


def config_hash(obj: dict, code_identity: str) -> str:
    """Hash of an object (or pod template) as rendered, with the image tag replaced by what the
    API's code depends on."""
    body = copy.deepcopy(obj)
    pod = body.get("spec", {}).get("template", body).get("spec", {})
    for c in pod.get("containers", []):
        c["image"] = code_identity
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def render_api(api: APISpec, project: Project, env: Environment, *, image: str, port: int,
               hpa_version: str, dependencies: str, extra_env: dict[str, str] | None = None) -> list[dict]:
    """The objects of one API; `dependencies` is the digest of everything in the image but the project,
    `extra_env` what the environment adds to the pods' (istio.mesh_env)."""
    pins = pinned_env(api)  # the s3:// model versions the pods fetch: changed objects roll them
    objects = [deployment(api, project, env, image, port, {**pins, **(extra_env or {})}),
               service(api, project, env)]
    document = models_document(api)
    # Its pods fetch models from S3; a multi-model API's list may name s3:// ones at any later deploy,
    # applied to the running pods (no new pod template), so its pods can reach S3 from the start.
    if pins or document is not None:
        grant_aws(objects[0]["spec"]["template"]["spec"]["containers"][0], env)
    if env.hpa:  # opt-in, for clusters with a custom-metrics adapter; otherwise mlserve's autoscaler scales
        objects.append(_hpa(api, project, hpa_version))
        objects[0]["metadata"]["labels"][SCALED_BY] = "hpa"
    if env.ingress_class or env.ingress_host:
        objects.append(ingress(api, project, env))
    if document is not None:
        objects.append(_models_configmap(api, project, document))
    stamp(objects, api, project, env, runtime_hash(api, project.root, pins), dependencies, scrape_port=port)
    return objects


def stamp(objects: list[dict], api: APISpec, project: Project, env: Environment, api_runtime: str,
          dependencies: str, *, scrape_port: int | None) -> None:
    """Namespace and config hash on every object; on each Deployment the spec (hash and text) and,
    on its pod template, the runtime and template hashes (and where /metrics is, if it serves one)."""
    runtime = f"{api_runtime}:{dependencies}"  # what the pods run
    for obj in objects:
        obj["metadata"]["namespace"] = env.namespace  # explicit, whatever the kubeconfig's default
        obj["metadata"]["annotations"] = {CONFIG_HASH: config_hash(obj, f"{spec_hash(api)}:{runtime}")}
    for workload in (o for o in objects if o["kind"] == "Deployment"):
        workload["metadata"]["annotations"].update({
            SPEC_HASH: spec_hash(api), SPEC: json.dumps(api.model_dump(mode="json"), sort_keys=True)})
        template = workload["spec"]["template"]
        serves = scrape_port is not None and template["spec"]["containers"][0].get("ports")
        template["metadata"]["annotations"] = scrape_annotations(scrape_port) if serves and scrape_port else {}
        template["metadata"]["annotations"].update({RUNTIME_HASH: api_runtime,
                                                    TEMPLATE_HASH: config_hash(template, runtime)})


def registry_prefix(env: Environment) -> str:
    """Where the environment's images live, as far as is known without asking anyone."""
    if env.registry:
        return env.registry.rstrip("/")
    if env.provider == "aws":
        return f"<aws-account-id>.dkr.ecr.{env.region}.amazonaws.com"
    return "<registry>"
