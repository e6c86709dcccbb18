"""Kubernetes objects for a project's traffic splitters: a Deployment + Service per splitter.

The splitter runs from the project image (`python -m mlserve.splitter`) with its routing table in
the environment, so it is reconciled and pruned like an API: a weight change is a new config hash
and a rolling update. APIs are addressed by their Service DNS names, or, where the environment says
so (`splitter_backend_host`; 127.0.0.1 on a host network), at that host and each API's port.
"""

from __future__ import annotations

import json
from typing import Any

from mlserve.contract import env as envvars
from mlserve.contract.labels import COMPONENT, CONFIG_HASH, SPEC, SPLITTER_COMPONENT, TEMPLATE_HASH
from mlserve.deploy.environments import Environment
from mlserve.deploy.manifests import SERVICE_PORT, config_hash, labels, project_label, selector
from mlserve.spec import Project, TrafficSplitterSpec

COMMAND = ["python", "-m", "mlserve.splitter"]
GRACE_SECONDS = 70  # in-flight requests finish before the pod goes (the splitter's --grace is 65)


def backend_url(project: Project, api_name: str, env: Environment, ports: dict[str, int]) -> str:
    endpoint = project.api(api_name).endpoint
    host = env.splitter_backend_host or ("127.0.0.1" if env.host_network else None)
    if host:
        return f"http://{host}:{ports[api_name]}{endpoint}"
    return f"http://{api_name}.{env.namespace}.svc.cluster.local:{SERVICE_PORT}{endpoint}"


def routes(splitter: TrafficSplitterSpec, project: Project, env: Environment, ports: dict[str, int]) -> dict:
    return {"splitter": splitter.name, "endpoint": splitter.endpoint, "backends": [
        {"name": a.name, "url": backend_url(project, a.name, env, ports), "weight": a.weight, "shadow": a.shadow}
        for a in splitter.apis]}


def render_splitter(splitter: TrafficSplitterSpec, project: Project, env: Environment, *, image: str,
                    ports: dict[str, int], dependencies: str) -> list[dict]:
    """Deployment + Service of one splitter; `ports` holds every API's and splitter's container port."""
    port = ports[splitter.name]
    meta_labels = {**labels(splitter.name, project_label(project.file)), COMPONENT: SPLITTER_COMPONENT}
    container = {
        "name": "splitter",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": COMMAND,
        "env": [
            {"name": envvars.SPLITTER_ROUTES, "value": json.dumps(routes(splitter, project, env, ports), sort_keys=True)},
            {"name": envvars.HOST, "value": "0.0.0.0"},
            {"name": envvars.PORT, "value": str(port)},
        ],
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"},
                           "periodSeconds": 2, "timeoutSeconds": 2, "failureThreshold": 2},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                          "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3},
    }
    pod: dict = {"containers": [container], "terminationGracePeriodSeconds": GRACE_SECONDS}
    if env.host_network:
        pod.update(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")
    if env.node_selector:
        pod["nodeSelector"] = dict(env.node_selector)
    # A host port holds one pod per node: the old pod must go before the new one can start.
    rolling = ({"maxSurge": 0, "maxUnavailable": 1} if env.host_network else {"maxSurge": 1, "maxUnavailable": 0})
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": splitter.name, "labels": meta_labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": selector(splitter.name)},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": rolling},
                 "template": {"metadata": {"labels": dict(meta_labels)}, "spec": pod}},
    }
    service: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": splitter.name, "labels": dict(meta_labels)},
        "spec": {"type": env.service_type, "selector": selector(splitter.name),
                 "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}]},
    }
    objects = [deployment, service]
    # The splitter's code is mlserve's, inside the dependencies: a new project tag alone restarts nothing.
    code = f"splitter:{dependencies}"
    for obj in objects:
        obj["metadata"]["annotations"] = {CONFIG_HASH: config_hash(obj, code)}
    # As for APIs: a new template hash (weights, mlserve's code) is a rollout that `deploy` waits for;
    # without it reconcile takes the pods as unchanged, does not wait and keeps the old image.
    template = deployment["spec"]["template"]
    template["metadata"]["annotations"] = {TEMPLATE_HASH: config_hash(template, code)}
    deployment["metadata"]["annotations"][SPEC] = json.dumps(splitter.model_dump(mode="json"), sort_keys=True)
    return objects
