"""The autoscaler's objects, one set per namespace: ServiceAccount, Role, RoleBinding, its state
ConfigMap and a one-replica Deployment running `python -m mlserve.autoscaler` from the project image.

The Role is the least the controller needs: list pods and Deployments, patch the `scale`
subresource of Deployments (not the Deployments themselves, so it cannot change what they run),
and read/patch its own ConfigMap by name. The objects belong to the namespace, not to a project:
`mlserve delete --all` leaves them for the namespace's other projects; with no APIs they idle.
"""

from __future__ import annotations

from mlserve.autoscaler.state import CONTROLLER
from mlserve.contract import env as envvars
from mlserve.contract.labels import AUTOSCALER_COMPONENT, COMPONENT, CONFIG_HASH, MANAGED_BY, MANAGER, NAME
from mlserve.deploy.aws_access import grant_aws
from mlserve.deploy.environments import Environment
from mlserve.deploy.manifests import config_hash
from mlserve.errors import DeployError
from mlserve.spec import Project

RBAC = "rbac.authorization.k8s.io/v1"
KINDS = [("v1", "ServiceAccount"), (RBAC, "Role"), (RBAC, "RoleBinding"), ("v1", "ConfigMap"),
         ("apps/v1", "Deployment")]
SELECTOR = f"{COMPONENT}={AUTOSCALER_COMPONENT}"
LABELS = {NAME: CONTROLLER, MANAGED_BY: MANAGER, COMPONENT: AUTOSCALER_COMPONENT}
RULES = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]},
    {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"]},
    {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [CONTROLLER], "verbs": ["get", "patch"]},
]


def _object(api_version: str, kind: str, **body) -> dict:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": CONTROLLER, "labels": dict(LABELS)}, **body}


def _deployment(env: Environment, image: str) -> dict:
    settings = {envvars.AUTOSCALER_API_SERVER: env.autoscaler_api_server,
                envvars.AUTOSCALER_SCRAPE_CIDRS: ",".join(env.autoscaler_scrape_cidrs),
                envvars.AUTOSCALER_INTERVAL: f"{env.autoscaler_interval:g}"}
    container = {
        "name": "autoscaler",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-m", "mlserve.autoscaler"],
        "env": [{"name": envvars.AUTOSCALER_NAMESPACE,
                 "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                *({"name": k, "value": v} for k, v in settings.items() if v)],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    pod: dict = {"serviceAccountName": CONTROLLER, "containers": [grant_aws(container, env)]}  # reads queues
    if env.host_network:
        pod.update(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")
    node_selector = env.autoscaler_node_selector or env.node_selector
    if node_selector:
        pod["nodeSelector"] = dict(node_selector)
    return _object("apps/v1", "Deployment", spec={
        "replicas": 1,
        "strategy": {"type": "Recreate"},  # never two controllers scaling the same APIs
        "selector": {"matchLabels": {NAME: CONTROLLER, MANAGED_BY: MANAGER}},
        "template": {"metadata": {"labels": dict(LABELS)}, "spec": pod},
    })


def render_control_plane(env: Environment, *, image: str, dependencies: str) -> list[dict]:
    """The objects; `dependencies` (mlserve and its packages) stands for the image in their hash, so
    deploys of other projects in the namespace with the same mlserve leave the controller running."""
    objects = [
        _object("v1", "ServiceAccount"),
        _object(RBAC, "Role", rules=RULES),
        _object(RBAC, "RoleBinding", roleRef={"apiGroup": RBAC.split("/")[0], "kind": "Role", "name": CONTROLLER},
                subjects=[{"kind": "ServiceAccount", "name": CONTROLLER, "namespace": env.namespace}]),
        _object("v1", "ConfigMap"),
        _deployment(env, image),
    ]
    for obj in objects:
        obj["metadata"]["annotations"] = {CONFIG_HASH: config_hash(obj, dependencies)}
    return objects


def plan_control_plane(desired: list[dict], live: list[dict], project: Project) -> list[tuple[str, dict]]:
    """("create" | "update", object) for each object that is missing or differs. The state ConfigMap
    is only ever created: what the controller wrote in it stays."""
    clash = [api.name for api in project.apis if api.name == CONTROLLER]
    if clash:
        raise DeployError(f"{project.file}: api '{CONTROLLER}' has the name of mlserve's autoscaler",
                          hint="rename the api")
    current = {(o["kind"], o["metadata"]["name"]): o for o in live}
    changes = []
    for obj in desired:
        found = current.get((obj["kind"], obj["metadata"]["name"]))
        if found is None:
            changes.append(("create", obj))
        elif obj["kind"] != "ConfigMap" and (found["metadata"].get("annotations") or {}).get(
                CONFIG_HASH) != obj["metadata"]["annotations"][CONFIG_HASH]:
            changes.append(("update", obj))
    return changes
