"""What a namespace shows of deployed APIs, read back for `mlserve get`, `logs` and endpoints.

Per API: its row (status from the rollout state and its pods' problems, replicas, requests and
latency from each reachable pod's /metrics, the autoscaler's last decisions, and in the detail view
its spec, recent errors, log tail, models and what its kind adds), its Deployments, its address from
outside the cluster, and its pods' logs. The Kubernetes backend (kubernetes.py) writes; this reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

from mlserve import kinds
from mlserve.contract.labels import ASYNC_WORKER_COMPONENT, COMPONENT, NAME, SPEC
from mlserve.contract.status import Status
from mlserve.deploy.base import APIStatus
from mlserve.deploy.cluster import Cluster
from mlserve.deploy.cluster_models import merged_rows, pod_pages
from mlserve.deploy.cluster_models import ready as _ready
from mlserve.deploy.environments import Environment
from mlserve.deploy.istio import VIRTUAL_SERVICE_VERSION, routed_endpoint, routed_splitters, routed_status
from mlserve.deploy.rollout import (
    RESTARTED_AT,
    UNSCHEDULABLE_HINT,
    current_pods,
    has_log,
    pod_problem,
    pod_reason,
    rollout_state,
    waiting_text,
)
from mlserve.errors import DeployError, NotDeployed


class ClusterStatus:
    """The reading half of the Kubernetes backend, on one namespace (the environment's)."""

    def __init__(self, cluster: Cluster, env: Environment) -> None:
        self.cluster = cluster
        self.env = env

    def istio(self) -> bool:
        """Whether the cluster serves Istio's VirtualService: then splitters are routes, not pods."""
        return self.cluster.serves(VIRTUAL_SERVICE_VERSION)

    def deployments(self, api: str | None = None) -> list[dict]:
        """Every kind's Deployments (not the namespace's autoscaler), or one API's: NotDeployed if it has none."""
        components = ",".join(kind.component for kind in kinds.KINDS)
        selector = f"{COMPONENT} in ({components})" + (f",{NAME}={api}" if api else "")
        deployments = self.cluster.list_managed([("apps/v1", "Deployment")], selector)
        if api and not deployments:
            raise NotDeployed(f"api '{api}' is not deployed in environment '{self.env.name}' "
                              f"(namespace {self.env.namespace})", hint="`mlserve get --env "
                              f"{self.env.name}` lists what is deployed there")
        return sorted(deployments, key=lambda d: d["metadata"]["name"])

    def workers(self, api: str | None) -> dict[str, dict]:
        """AsyncAPIs' worker Deployments by API name."""
        selector = f"{COMPONENT}={ASYNC_WORKER_COMPONENT}" + (f",{NAME}={api}" if api else "")
        return {d["metadata"]["labels"][NAME]: d for d in self.cluster.list_managed([("apps/v1", "Deployment")], selector)}

    def status(self, api: str | None = None, *, detail: bool = False) -> list[APIStatus]:
        routed = []
        for vs in self.routes(api):  # splitters Istio runs: no pods, no metrics of their own
            meta = vs["metadata"]
            stamps = [meta.get("creationTimestamp"), *(m.get("time") for m in meta.get("managedFields") or [])]
            routed.append(routed_status(self.env, vs, detail, last_update=_latest(stamps)))
        if api and routed:
            return routed
        out = []
        scaling = self._autoscaler_state()
        workers = self.workers(api)
        for deployment in self.deployments(api):
            name = deployment["metadata"]["name"]
            worker = workers.get(name)  # an AsyncAPI's: its state and pods count with the gateway's
            done, state = rollout_state(deployment)
            pods = current_pods(self.cluster, deployment)
            if worker is not None:
                worker_done, worker_state = rollout_state(worker)
                done, state = done and worker_done, f"gateway {state}; workers {worker_state}"
            problems = [p for p in (pod_problem(pod) for pod in
                                    [*pods, *(current_pods(self.cluster, worker) if worker else [])]) if p]
            reason = next(filter(None, (pod_reason(pod) for pod in pods)), None)
            want = (deployment.get("spec") or {}).get("replicas", 0)
            status = (Status.STOPPED if want == 0 else Status.LIVE if done else
                      Status.CRASH_LOOP if any(p.crash_loop for p in problems) else
                      Status.ERROR if problems else Status.PENDING if reason and reason.startswith("Unschedulable")
                      else Status.UPDATING)
            annotations = deployment["metadata"].get("annotations") or {}
            template = deployment["spec"]["template"]["metadata"].get("annotations") or {}
            stamps = [deployment["metadata"].get("creationTimestamp"), template.get(RESTARTED_AT),
                      *(c.get("lastUpdateTime") for c in (deployment.get("status") or {}).get("conditions") or [])]
            row = APIStatus(api=name, status=status, endpoint=self.endpoint_or_none(name),
                            replicas=f"{state} ({want} requested)", last_update=_latest(stamps),
                            reason=None if done else reason)
            self._add_metrics(row, deployment, pods)
            scaled = worker or deployment  # an AsyncAPI's workers are what the autoscaler scales
            add_scaling(row, scaled, scaling.get(scaled["metadata"]["name"]), detail)
            if detail:
                row.spec = json.loads(annotations.get(SPEC, "{}"))
                row.recent_errors = [f"pod {p.pod}: {p.message}" for p in problems]
                reachable = self.reachable(pods)
                row.recent_errors += self._recent_5xx(deployment, reachable)
                if reachable:
                    row.log_tail = self.cluster.log(reachable[0]["metadata"]["name"], tail=20).splitlines()
                row.models = self._models(deployment, reachable, row.spec)
                kinds.of_spec(row.spec).describe_pods(row, self.cluster, deployment, reachable)
            out.append(row)
        return out + routed

    def _models(self, deployment: dict, pods: list[dict], spec: dict) -> list[dict]:
        """A multi-model API's models as its ready pods serve them (each pod keeps its own cache)."""
        from mlserve.deploy.metrics import is_multi_model

        return merged_rows(pod_pages(self.cluster, deployment, pods)) if is_multi_model(spec) else []

    def routes(self, api: str | None = None) -> list[dict]:
        """Traffic splitters Istio runs (VirtualServices); none where the cluster has no Istio."""
        return routed_splitters(self.cluster, api) if self.istio() else []

    def _recent_5xx(self, deployment: dict, pods: list[dict]) -> list[str]:
        from mlserve.deploy.metrics import recent_error_lines
        from mlserve.runtime.recent import PATH

        port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        return [line for p in pods if _ready(p) for line in recent_error_lines(
            self.cluster.pod_get(p, port, PATH) or "{}")]

    def _autoscaler_state(self) -> dict:
        from mlserve.autoscaler.state import CONTROLLER, load

        configmap = None if self.env.hpa else self.cluster.get("v1", "ConfigMap", CONTROLLER)
        return load((configmap or {}).get("data"))

    def reachable(self, pods: list[dict]) -> list[dict]:
        """Pods inside the scrape allow-list: elsewhere addresses may lead nowhere (docs/kubernetes.md)."""
        from mlserve.autoscaler.controller import allowed, parse_networks

        networks = parse_networks(",".join(self.env.autoscaler_scrape_cidrs))
        return [p for p in pods if allowed((p.get("status") or {}).get("podIP"), networks)]

    def _add_metrics(self, row: APIStatus, deployment: dict, pods: list[dict]) -> None:
        """Requests and latency summed over the API's pods, from each runtime's /metrics."""
        from mlserve.contract.metrics import summarize

        port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        pages = (self.cluster.pod_get(p, port, "/metrics") for p in self.reachable(pods) if _ready(p))
        texts = [t for t in pages if t]
        summary = summarize("\n".join(texts)) if texts else None
        spec = json.loads((deployment["metadata"].get("annotations") or {}).get(SPEC, "{}"))
        kinds.of_spec(spec).describe(row, spec, summary)
        if summary is None:
            return
        row.requests, row.p50_ms, row.p99_ms = summary.requests, summary.p50_ms, summary.p99_ms
        by_class = summary.by_class or {}
        row.responses_2xx, row.responses_4xx, row.responses_5xx = (by_class.get(k, 0) for k in ("2xx", "4xx", "5xx"))

    def logs(self, api: str, *, follow: bool = False, tail: int = 200) -> Iterator[str]:
        pods = self.cluster.pods(f"{NAME}={api}")
        if not pods:
            self.deployments(api)  # NotDeployed if the API is unknown
            raise DeployError(f"api '{api}' has no pods yet", hint="`mlserve get` shows its state")
        pods.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)
        if follow:
            # The newest pod: after a rollout that is the one serving the new version.
            yield from self.cluster.follow_log(pods[0]["metadata"]["name"], tail=tail)
            return
        silent = [pod for pod in pods if not has_log(pod)]
        if len(silent) == len(pods):  # not one line to show: say why instead
            pending = [pod for pod in silent if (pod_reason(pod) or "").startswith("Unschedulable")]
            raise DeployError(f"api '{api}' has no log yet: " + "; ".join(map(waiting_text, silent)),
                              hint=UNSCHEDULABLE_HINT if pending else
                              f"its container has not started: `mlserve get {api} --env {self.env.name}` shows why")
        for pod in pods:
            prefix = f"[{pod['metadata']['name']}] " if len(pods) > 1 else ""
            if pod in silent:
                yield f"{prefix}({waiting_text(pod)}; no log yet)"
                continue
            for line in self.cluster.log(pod["metadata"]["name"], tail=tail).splitlines():
                yield prefix + line

    def endpoint_or_none(self, api: str) -> str | None:
        """The API's URL from outside the cluster; None while a host-network API has no ready pod."""
        deployment = self.cluster.get("apps/v1", "Deployment", api)
        if deployment is None:
            return next((routed_endpoint(self.env, vs) for vs in self.routes(api)), None)
        path = json.loads(deployment["metadata"]["annotations"].get(SPEC, "{}")).get("networking", {}).get(
            "endpoint") or f"/{api}"
        pod_spec = deployment["spec"]["template"]["spec"]
        if self.env.ingress_host:
            return f"http://{self.env.ingress_host}{path}"
        if pod_spec.get("hostNetwork"):
            port = pod_spec["containers"][0]["ports"][0]["containerPort"]
            ready = [p for p in self.cluster.pods(f"{NAME}={api}") if _ready(p)]
            host = ready and (ready[0].get("status") or {}).get("hostIP")
            return f"http://{host}:{port}{path}" if host else None
        service = self.cluster.get("v1", "Service", api) or {}
        for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            return f"http://{ingress.get('hostname') or ingress.get('ip')}{path}"
        return f"http://{api}.{self.env.namespace}.svc.cluster.local{path}"


def add_scaling(row: APIStatus, deployment: dict, state, detail: bool) -> None:
    """Replicas ready/desired, and what the autoscaler last saw and did (from its state ConfigMap)."""
    from mlserve.autoscaler.algorithm import Decision

    row.ready_replicas = (deployment.get("status") or {}).get("readyReplicas") or 0
    row.desired_replicas = (deployment.get("spec") or {}).get("replicas", 0)
    if state is None:
        return
    row.in_flight = (state.last or {}).get("avg_in_flight")
    if detail:
        for event in reversed(state.events):
            stamp = datetime.fromtimestamp(event["time"], UTC).isoformat(timespec="seconds")
            row.scaling.append(f"{stamp}  {Decision(**event).describe()}")


def _latest(stamps: list[str | None]) -> float | None:
    times = [datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() for s in stamps if s]
    return max(times) if times else None
