"""The Kubernetes backend: build and push the project's image, reconcile its objects, wait.

One image per project content (tagged by hash); per API a Deployment, Service, HPA and
optional Ingress (`manifests.py`), changed only when the API's own config hash changed
(`reconcile.py`), then a wait for the rollout that reports failures (`rollout.py`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from mlserve import kinds
from mlserve.contract.labels import ASYNC_WORKER_COMPONENT, COMPONENT, NAME, PART_OF, SPEC
from mlserve.contract.progress import Transient
from mlserve.contract.status import Status
from mlserve.deploy.api_keys import secret, secret_name
from mlserve.deploy.aws_access import check_aws_secret
from mlserve.deploy.base import APIStatus, DeployResult, Progress
from mlserve.deploy.capacity import check_capacity
from mlserve.deploy.cluster import Cluster, api_client_from_kubeconfig
from mlserve.deploy.cluster_models import merged_rows, pod_pages, report_models
from mlserve.deploy.cluster_models import ready as _ready
from mlserve.deploy.environments import Environment
from mlserve.deploy.istio import (
    VIRTUAL_SERVICE,
    VIRTUAL_SERVICE_VERSION,
    routed_endpoint,
    routed_splitters,
    routed_status,
)
from mlserve.deploy.manifests import labels, project_label
from mlserve.deploy.monitoring import SERVICE_MONITOR, SERVICE_MONITOR_VERSION, service_monitor
from mlserve.deploy.reconcile import api_actions, plan, rollout_needed, to_apply
from mlserve.deploy.render import render_manifests
from mlserve.deploy.rollout import (
    UNSCHEDULABLE_HINT,
    current_pods,
    has_log,
    pod_problem,
    pod_reason,
    rollout_state,
    wait_for_rollouts,
    waiting_text,
)
from mlserve.deploy.strategy import host_network_note
from mlserve.errors import DeployError, NotDeployed
from mlserve.image.builder import Registry, ensure_image, image_tag
from mlserve.image.context import build_context, dependencies_digest
from mlserve.spec import Project
from mlserve.spec.api_key import read_api_key

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # the annotation `kubectl rollout restart` sets


class KubernetesBackend:
    def __init__(self, env: Environment, project_file: Path | None = None) -> None:
        self.env = env
        self.project_file = project_file
        self._cluster: Cluster | None = None

    # The two things the AWS backend supplies differently.
    def api_client(self):
        return api_client_from_kubeconfig(self.env)

    def registry(self) -> Registry:
        return Registry(self.env.registry or "", self.env.repository)

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            self._cluster = Cluster(self.api_client(), self.env.namespace)
        return self._cluster

    def _kinds(self, hpa_version: str | None = None) -> list[tuple[str, str]]:
        kinds = [("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap"),
                 (hpa_version or self.cluster.hpa_version(), "HorizontalPodAutoscaler"),
                 ("networking.k8s.io/v1", "Ingress"),
                 # A job API's service account and its Role (deploy/job_manifests.py).
                 ("v1", "ServiceAccount"), ("rbac.authorization.k8s.io/v1", "Role"),
                 ("rbac.authorization.k8s.io/v1", "RoleBinding")]
        return (kinds + ([SERVICE_MONITOR] if self._monitored() else [])
                + ([VIRTUAL_SERVICE] if self._istio() else []))

    def _monitored(self) -> bool:
        """Whether the cluster runs the Prometheus Operator (serves ServiceMonitors)."""
        return self.cluster.serves(SERVICE_MONITOR_VERSION)

    def _istio(self) -> bool:
        """Whether the cluster serves Istio's VirtualService: then splitters are routes, not pods."""
        return self.cluster.serves(VIRTUAL_SERVICE_VERSION)

    def deploy(self, project: Project, progress: Progress, *, force: bool = False) -> list[DeployResult]:
        progress(f"checking {self.cluster.server}, namespace {self.env.namespace}")
        check_capacity(self.cluster, project, self.env, progress)
        check_aws_secret(self.cluster, self.env)
        hpa_version = self.cluster.hpa_version()
        registry = self.registry()
        context = build_context(project, self.env.base_image)
        image = registry.reference(image_tag(context))
        desired = render_manifests(project, self.env, image=image, hpa_version=hpa_version, context=context,
                                   istio=self._istio())
        if self._monitored():
            desired += [service_monitor(api, project_label(project.file), self.env.namespace) for api in project.apis]
        live = self.cluster.list_managed(self._kinds(hpa_version))
        changes = plan(desired, live, project_label(project.file), namespace=self.env.namespace, force=force)
        to_roll = rollout_needed(changes, force=force)
        changed = {c.api for c in changes if c.verb in ("create", "update")}
        for note in filter(None, (host_network_note(api, self.env) for api in project.apis if api.name in changed)):
            progress(note)
        control = self._control_plane_changes(project, image, context)
        if to_roll or control:
            ensure_image(project, self.env.base_image, registry, progress, context=context)
            self.cluster.ensure_namespace()
        for verb, obj in control:
            progress(f"autoscaler: {'creating' if verb == 'create' else 'updating'} {obj['kind']}")
            self.cluster.create(obj) if verb == "create" else self.cluster.apply(obj)
        self._apply_api_keys(project, progress, namespace_known=bool(to_roll or control))
        for kind, entry in kinds.entries(project):  # e.g. an AsyncAPI's queue, before its pods look for it
            kind.provision(entry, self.env, progress)
        replicas = {o["metadata"]["name"]: (o.get("spec") or {}).get("replicas") for o in live
                    if o["kind"] == "Deployment"}
        for change in changes:
            if change.verb == "create":
                progress(f"{change.api}: creating {change.kind}")
                self.cluster.create(change.desired)
            elif change.verb == "update":
                in_place = change.kind == "Deployment" and change.api not in to_roll
                progress(f"{change.api}: new models list, applied without a rollout" if change.kind == "ConfigMap"
                         else f"{change.api}: updating {change.kind}{' in place (no pod restarts)' if in_place else ''}")
                self.cluster.apply(self._keep_scale(to_apply(change), replicas.get(change.name)))
            elif change.verb == "delete":
                progress(f"{change.api}: deleting {change.kind}")
                self.cluster.delete(change.live["apiVersion"], change.kind, change.name)
        if force:
            for api in to_roll:
                self._restart(api)
        wait_for_rollouts(self.cluster, self._workloads(to_roll), progress, self.env.rollout_timeout)
        results = [DeployResult(api, action, None if action == "deleted" else self._endpoint_or_none(api))
                   for api, action in api_actions(changes).items()]
        report_models(self.cluster, desired, results, self._reachable, progress, self.env.name)
        return results

    def _apply_api_keys(self, project: Project, progress: Progress, namespace_known: bool) -> None:
        """Create or update the Secret of every API with a key, before its pods need it."""
        keyed = [api for api in project.apis if api.networking.api_key_env]
        if keyed and not namespace_known:
            self.cluster.ensure_namespace()
        for api in keyed:
            progress(f"{api.name}: storing its API key in Secret {secret_name(api)}")
            self.cluster.apply(secret(api, read_api_key(api), labels(api.name, project_label(project.file)),
                                      self.env.namespace))

    def _control_plane_changes(self, project: Project, image: str, context) -> list[tuple[str, dict]]:
        """The namespace's autoscaler objects to create or update (none where HPAs scale)."""
        from mlserve.deploy.control_plane import KINDS, SELECTOR, plan_control_plane, render_control_plane

        if self.env.hpa:
            return []
        desired = render_control_plane(self.env, image=image, dependencies=dependencies_digest(context))
        return plan_control_plane(desired, self.cluster.list_managed(KINDS, SELECTOR), project)

    @staticmethod
    def _keep_scale(deployment: dict, live_replicas: int | None) -> dict:
        """Keep the replica count the autoscaler chose, within the API's new min/max."""
        if deployment["kind"] != "Deployment" or live_replicas is None:
            return deployment
        spec = json.loads(deployment["metadata"]["annotations"][SPEC]).get("autoscaling")
        if spec is None:  # a traffic splitter: one replica, not autoscaled
            return deployment
        deployment["spec"]["replicas"] = min(max(live_replicas, spec["min_replicas"]), spec["max_replicas"])
        return deployment

    def _restart(self, api: str) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        for name in self._workloads([api]):
            self.cluster.patch("apps/v1", "Deployment", name,
                               {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}})

    def _workloads(self, apis: list[str]) -> list[str]:
        """The Deployments of these APIs, by name: an AsyncAPI has two (its gateway and its workers)."""
        if not apis:
            return []
        found = self.cluster.list_managed([("apps/v1", "Deployment")], f"{NAME} in ({','.join(sorted(set(apis)))})")
        return sorted(d["metadata"]["name"] for d in found)

    def _deployments(self, api: str | None = None) -> list[dict]:
        # Every kind's Deployments, not the namespace's autoscaler.
        components = ",".join(kind.component for kind in kinds.KINDS)
        selector = f"{COMPONENT} in ({components})" + (f",{NAME}={api}" if api else "")
        deployments = self.cluster.list_managed([("apps/v1", "Deployment")], selector)
        if api and not deployments:
            raise NotDeployed(f"api '{api}' is not deployed in environment '{self.env.name}' "
                              f"(namespace {self.env.namespace})", hint="`mlserve get --env "
                              f"{self.env.name}` lists what is deployed there")
        return sorted(deployments, key=lambda d: d["metadata"]["name"])

    def _workers(self, api: str | None) -> dict[str, dict]:
        """AsyncAPIs' worker Deployments by API name."""
        selector = f"{COMPONENT}={ASYNC_WORKER_COMPONENT}" + (f",{NAME}={api}" if api else "")
        return {d["metadata"]["labels"][NAME]: d for d in self.cluster.list_managed([("apps/v1", "Deployment")], selector)}

    def status(self, api: str | None = None, *, detail: bool = False) -> list[APIStatus]:
        routed = []
        for vs in self._routes(api):  # splitters Istio runs: no pods, no metrics of their own
            meta = vs["metadata"]
            stamps = [meta.get("creationTimestamp"), *(m.get("time") for m in meta.get("managedFields") or [])]
            routed.append(routed_status(self.env, vs, detail, last_update=_latest(stamps)))
        if api and routed:
            return routed
        out = []
        scaling = self._autoscaler_state()
        workers = self._workers(api)
        for deployment in self._deployments(api):
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
            row = APIStatus(api=name, status=status, endpoint=self._endpoint_or_none(name),
                            replicas=f"{state} ({want} requested)", last_update=_latest(stamps),
                            reason=None if done else reason)
            self._add_metrics(row, deployment, pods)
            scaled = worker or deployment  # an AsyncAPI's workers are what the autoscaler scales
            _add_scaling(row, scaled, scaling.get(scaled["metadata"]["name"]), detail)
            if detail:
                row.spec = json.loads(annotations.get(SPEC, "{}"))
                row.recent_errors = [f"pod {p.pod}: {p.message}" for p in problems]
                reachable = self._reachable(pods)
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

    def _routes(self, api: str | None = None) -> list[dict]:
        """Traffic splitters Istio runs (VirtualServices); none where the cluster has no Istio."""
        return routed_splitters(self.cluster, api) if self._istio() else []

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

    def _reachable(self, pods: list[dict]) -> list[dict]:
        """Pods inside the scrape allow-list: elsewhere addresses may lead nowhere (docs/kubernetes.md)."""
        from mlserve.autoscaler.controller import allowed, parse_networks

        networks = parse_networks(",".join(self.env.autoscaler_scrape_cidrs))
        return [p for p in pods if allowed((p.get("status") or {}).get("podIP"), networks)]

    def _add_metrics(self, row: APIStatus, deployment: dict, pods: list[dict]) -> None:
        """Requests and latency summed over the API's pods, from each runtime's /metrics."""
        from mlserve.contract.metrics import summarize

        port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        pages = (self.cluster.pod_get(p, port, "/metrics") for p in self._reachable(pods) if _ready(p))
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
            self._deployments(api)  # NotDeployed if the API is unknown
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

    def refresh(self, api: str, progress: Progress) -> DeployResult:
        self._deployments(api)
        progress(f"{api}: restarting its pods")
        self._restart(api)
        wait_for_rollouts(self.cluster, self._workloads([api]), progress, self.env.rollout_timeout)
        return DeployResult(api, "updated", self._endpoint_or_none(api))

    def delete(self, api: str | None, progress: Progress) -> list[DeployResult]:
        if api:
            self._routes(api) or self._deployments(api)  # NotDeployed if neither
            selector = f"{NAME}={api}"
        else:
            if self.project_file is None:
                raise DeployError("deleting every API needs the project's cortex.yaml")
            selector = f"{PART_OF}={project_label(self.project_file)}"
        objects = self.cluster.list_managed([*self._kinds(), ("v1", "Secret")], selector)
        names = sorted({o["metadata"]["labels"][NAME] for o in objects})
        for obj in objects:
            progress(f"{obj['metadata']['labels'][NAME]}: deleting {obj['kind']}")
            self.cluster.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])
        self._wait_pods_gone(names, progress)
        for name in names:  # what the kind keeps outside the cluster (an AsyncAPI's queue) goes, or is said to stay
            own = [o for o in objects if o["metadata"]["labels"][NAME] == name]
            spec = next((json.loads(o["metadata"]["annotations"][SPEC]) for o in own
                         if SPEC in (o["metadata"].get("annotations") or {})), None)
            if spec is not None:
                kinds.of_spec(spec).deprovision(name, own, self.env, progress)
        return [DeployResult(name, "deleted") for name in names]

    def _wait_pods_gone(self, apis: list[str], progress: Progress, timeout: float = 120.0) -> None:
        """Pods of deleted APIs stop gracefully; wait so their ports and resources are free again."""
        deadline = time.monotonic() + timeout
        for api in apis:
            while self.cluster.pods(f"{NAME}={api}") and time.monotonic() < deadline:
                progress(Transient(f"{api}: waiting for its pods to stop…"))
                time.sleep(1)

    def endpoint(self, api: str) -> str:
        url = self._endpoint_or_none(api)
        if url is None:
            raise DeployError(f"api '{api}' has no address reachable from outside the cluster yet",
                              hint="use an ingress (mlserve env set ... --ingress-host) or a LoadBalancer "
                                   "service type, or wait for a replica to be ready")
        return url

    def _endpoint_or_none(self, api: str) -> str | None:
        deployment = self.cluster.get("apps/v1", "Deployment", api)
        if deployment is None:
            return next((routed_endpoint(self.env, vs) for vs in self._routes(api)), None)
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


def _add_scaling(row: APIStatus, deployment: dict, state, detail: bool) -> None:
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
