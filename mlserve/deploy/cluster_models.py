"""A multi-model API on Kubernetes after a deploy: wait until its pods serve the deployed models list,
then report each model (loaded, on disk, failed with its error), as the local deploy does.

The list reaches running pods through their mounted ConfigMap (manifests.py): kubelet rewrites the
file on its next sync of the pod, up to its sync period (1 min by default, plus jitter) plus its
ConfigMap cache's delay later, unless the pod changes: so deploy annotates pods that do not serve the
list yet, and kubelet syncs them at once (docs/kubernetes.md). The runtime applies the file within a
poll (runtime/multimodel/models_list.py). Each ready pod's `GET /models` says which list it serves
("list"); pods are read the way `mlserve get API` reads them. A model that fails is reported; the
deploy does not fail for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from mlserve.contract.labels import MODELS_LIST, NAME
from mlserve.contract.progress import Progress, Transient
from mlserve.deploy.base import DeployResult
from mlserve.deploy.cluster import Cluster
from mlserve.deploy.manifests import MODELS_KEY
from mlserve.deploy.metrics import models_page
from mlserve.deploy.rollout import current_pods
from mlserve.errors import DeployError

WAIT = 150.0  # seconds: kubelet's own refresh (up to 90 s by default) where pods may not be annotated
Reachable = Callable[[list[dict]], list[dict]]  # the pods this machine can reach (KubernetesBackend._reachable)


def listed_versions(desired: list[dict]) -> dict[str, str]:
    """{api: version of its models list} for the models ConfigMaps among rendered manifests."""
    return {o["metadata"]["labels"][NAME]: json.loads(o["data"][MODELS_KEY])["version"]
            for o in desired if o["kind"] == "ConfigMap" and MODELS_KEY in (o.get("data") or {})}


def ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pod_pages(cluster: Cluster, deployment: dict, pods: list[dict]) -> list[tuple[str, dict | None]]:
    """(pod name, its `GET /models` answer with models as rows, or None when unreadable now) per ready pod."""
    from mlserve.runtime.multimodel import PATH

    port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    return [(p["metadata"]["name"], models_page(cluster.pod_get(p, port, PATH))) for p in pods if ready(p)]


def merged_rows(pages: list[tuple[str, dict | None]]) -> list[dict]:
    """One row per model: the first pod's, unless the model failed in some pod (each pod loads on its own)."""
    rows: dict[str, dict] = {}
    for pod, page in pages:
        for row in (page or {}).get("models", []):
            if row["name"] not in rows or (row["state"] == "failed" and rows[row["name"]]["state"] != "failed"):
                detail = f"pod {pod}: {row['detail']}" if row["state"] == "failed" and len(pages) > 1 else row["detail"]
                rows[row["name"]] = {**row, "detail": detail}
    return list(rows.values())


def report_models(cluster: Cluster, desired: list[dict], results: list[DeployResult], reachable: Reachable,
                  progress: Progress, env_name: str, timeout: float = WAIT) -> None:
    """Fill `models` of each created or updated multi-model API once its pods serve the deployed list."""
    wanted = listed_versions(desired)
    pending = {r.api: r for r in results if r.api in wanted and r.action in ("created", "updated")}
    if not pending:
        return
    started = time.monotonic()
    progress(f"{', '.join(pending)}: waiting up to {timeout:.0f}s for the pods to serve the deployed models list")
    late: dict[str, list[str]] = {}
    nudged: set[str] = set()
    while pending:
        for api, result in list(pending.items()):
            deployment = cluster.get("apps/v1", "Deployment", api)
            pods = reachable(current_pods(cluster, deployment)) if deployment else []
            pages = pod_pages(cluster, deployment, pods) if deployment else []
            late[api] = [pod for pod, page in pages if (page or {}).get("list") != wanted[api]]
            for pod in set(late[api]) - nudged:
                nudged.add(pod)
                _nudge(cluster, pod, wanted[api])
            if pages and not late[api]:
                result.models = merged_rows(pages)
                progress(f"{api}: {len(pages)}/{len(pages)} ready pods serve the deployed models list "
                         f"(after {time.monotonic() - started:.0f}s)")
                del pending[api]
            elif time.monotonic() - started > timeout:
                result.models = merged_rows([p for p in pages if p[0] not in late[api]]) + [
                    _pending_row(api, late[api], timeout, env_name)]
                del pending[api]
            else:
                progress(Transient(f"{api}: {len(pages) - len(late[api])}/{len(pages)} ready pods serve the deployed "
                                   f"models list… {time.monotonic() - started:.0f}s"))
        if pending:
            time.sleep(1.0)


def _nudge(cluster: Cluster, pod: str, version: str) -> None:
    """Annotate the pod with the list's version: kubelet syncs a pod when the pod changes, and then
    refreshes its ConfigMap volume at once instead of at its next periodic sync (up to a minute on)."""
    try:
        cluster.patch("v1", "Pod", pod, {"metadata": {"annotations": {MODELS_LIST: version}}})
    except DeployError:  # e.g. not allowed to patch pods: the periodic sync still comes
        pass


def _pending_row(api: str, late: list[str], timeout: float, env_name: str) -> dict:
    who = f"not yet served by pod{'s' if len(late) > 1 else ''} {', '.join(late)}" if late else "no ready pod to read"
    return {"name": "*", "state": "pending", "versions": [], "last_used": None,
            "detail": f"{who} after {timeout:.0f}s (kubelet refreshes a mounted ConfigMap on its next sync of "
                      f"the pod, docs/kubernetes.md); `mlserve get {api} --env {env_name}` lists the models "
                      f"a pod serves, `mlserve logs {api} --env {env_name}` shows why one does not"}
