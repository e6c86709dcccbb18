"""Traffic splitters as Istio VirtualServices, on clusters that serve that kind.

Where API discovery finds `networking.istio.io/v1beta1`, a splitter is no pod: its weights become
one HTTP route of a VirtualService bound to the environment's Istio Gateway, and Istio's proxies
split the requests. The route matches the splitter's endpoint exactly and sends the request to the
APIs' Services with the path rewritten to MESH_PATH: Istio rewrites the path once for all of a
route's destinations while each API answers at its own endpoint, so in this mode every API's pods
also answer predictions on MESH_PATH (runtime/mesh.py; the variable is set only here, so pods of
other environments keep their template). A shadow API is the route's mirror (every request; Istio
drops the mirror's answers).
"""

from __future__ import annotations

import json
from typing import Any

from mlserve.contract import env as envvars
from mlserve.contract.kind import Kind
from mlserve.contract.labels import COMPONENT, CONFIG_HASH, NAME, SPEC, SPLITTER_COMPONENT
from mlserve.contract.status import Status
from mlserve.deploy.base import APIStatus
from mlserve.deploy.environments import Environment
from mlserve.deploy.manifests import SERVICE_PORT, config_hash, labels, project_label
from mlserve.runtime.mesh import MESH_PATH
from mlserve.spec import Project, TrafficSplitterSpec

VIRTUAL_SERVICE_VERSION = "networking.istio.io/v1beta1"
VIRTUAL_SERVICE = (VIRTUAL_SERVICE_VERSION, "VirtualService")
# The Gateway the routes bind to unless the environment names one (docs/kubernetes.md shows it).
DEFAULT_GATEWAY = "istio-system/mlserve-gateway"


def mesh_env() -> dict[str, str]:
    """What API pods of an Istio-mode environment get in their environment."""
    return {envvars.MESH_PATH: MESH_PATH}


def _destination(api: str, env: Environment) -> dict:
    return {"host": f"{api}.{env.namespace}.svc.cluster.local", "port": {"number": SERVICE_PORT}}


def render_virtual_service(splitter: TrafficSplitterSpec, project: Project, env: Environment) -> dict:
    route: dict = {
        "name": splitter.name,
        "match": [{"uri": {"exact": splitter.endpoint}}],
        "rewrite": {"uri": MESH_PATH},
        "route": [{"destination": _destination(a.name, env), "weight": a.weight} for a in splitter.primaries],
        # As the splitter pod decides: retry only what never reached an API (Istio's default would
        # also repeat a 503, and a predict may not be safe to run twice).
        "retries": {"attempts": 2, "retryOn": "connect-failure,refused-stream"},
    }
    if splitter.shadow:
        route["mirror"] = _destination(splitter.shadow.name, env)
        route["mirrorPercentage"] = {"value": 100.0}
    obj: dict[str, Any] = {
        "apiVersion": VIRTUAL_SERVICE_VERSION, "kind": "VirtualService",
        "metadata": {"name": splitter.name, "namespace": env.namespace,
                     "labels": {**labels(splitter.name, project_label(project.file)), COMPONENT: SPLITTER_COMPONENT}},
        "spec": {"hosts": [env.ingress_host or "*"], "gateways": [env.istio_gateway or DEFAULT_GATEWAY],
                 "http": [route]},
    }
    obj["metadata"]["annotations"] = {CONFIG_HASH: config_hash(obj, ""),
                                      SPEC: json.dumps(splitter.model_dump(mode="json"), sort_keys=True)}
    return obj


def routed_splitters(cluster, api: str | None = None) -> list[dict]:
    """The live VirtualServices of traffic splitters (all, or the one named `api`)."""
    selector = f"{COMPONENT}={SPLITTER_COMPONENT}" + (f",{NAME}={api}" if api else "")
    return cluster.list_managed([VIRTUAL_SERVICE], selector)


def routed_endpoint(env: Environment, virtual_service: dict) -> str | None:
    """Where clients reach the splitter: the gateway's host, when the environment names it."""
    if not env.ingress_host:
        return None  # the gateway's address is the cluster's (its Service), not known here
    return f"http://{env.ingress_host}{virtual_service['spec']['http'][0]['match'][0]['uri']['exact']}"


def routed_status(env: Environment, virtual_service: dict, detail: bool, last_update: float | None) -> APIStatus:
    """`mlserve get`'s row for a splitter Istio runs: its weights (Istio counts its requests)."""
    meta = virtual_service["metadata"]
    spec = json.loads((meta.get("annotations") or {}).get(SPEC, "{}"))
    backends = [{"api": a["name"], "weight": a.get("weight") or 0, "shadow": a.get("shadow", False),
                 "requests": None} for a in spec.get("apis", [])]
    return APIStatus(api=meta["name"], status=Status.LIVE, endpoint=routed_endpoint(env, virtual_service),
                     replicas="Istio VirtualService", last_update=last_update,
                     spec=spec if detail else None, kind=Kind.TRAFFIC_SPLITTER, backends=backends)
