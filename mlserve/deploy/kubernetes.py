"""The Kubernetes backend: build and push the project's image, reconcile its objects, wait.

One image per project content (tagged by hash); per API a Deployment, Service, HPA and
optional Ingress (`manifests.py`), changed only when the API's own config hash changed
(`reconcile.py`), then a wait for the rollout that reports failures (`rollout.py`). What the
namespace shows back (`mlserve get`, logs, endpoints) is read by `cluster_status.py`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from mlserve import kinds
from mlserve.contract.labels import NAME, PART_OF, SPEC
from mlserve.contract.progress import Transient
from mlserve.deploy.api_keys import secret, secret_name
from mlserve.deploy.aws_access import check_aws_secret
from mlserve.deploy.base import APIStatus, DeployResult, Progress
from mlserve.deploy.capacity import check_capacity
from mlserve.deploy.cluster import Cluster, api_client_from_kubeconfig
from mlserve.deploy.cluster_models import report_models
from mlserve.deploy.cluster_status import ClusterStatus
from mlserve.deploy.environments import Environment
from mlserve.deploy.istio import VIRTUAL_SERVICE
from mlserve.deploy.manifests import labels, project_label
from mlserve.deploy.monitoring import SERVICE_MONITOR, SERVICE_MONITOR_VERSION, service_monitor
from mlserve.deploy.reconcile import api_actions, plan, rollout_needed, to_apply
from mlserve.deploy.render import render_manifests
from mlserve.deploy.rollout import RESTARTED_AT, wait_for_rollouts
from mlserve.deploy.strategy import host_network_note
from mlserve.errors import DeployError
from mlserve.image.builder import Registry, ensure_image, image_tag
from mlserve.image.context import build_context, dependencies_digest
from mlserve.spec import Project
from mlserve.spec.api_key import read_api_key


class KubernetesBackend:
    def __init__(self, env: Environment, project_file: Path | None = None) -> None:
        self.env = env
        self.project_file = project_file
        self._cluster: Cluster | None = None
        self._view: ClusterStatus | None = None

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

    @property
    def view(self) -> ClusterStatus:
        """What the namespace shows of the APIs (cluster_status.py)."""
        if self._view is None:
            self._view = ClusterStatus(self.cluster, self.env)
        return self._view

    def _kinds(self, hpa_version: str | None = None) -> list[tuple[str, str]]:
        kinds = [("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap"),
                 (hpa_version or self.cluster.hpa_version(), "HorizontalPodAutoscaler"),
                 ("networking.k8s.io/v1", "Ingress"),
                 # A job API's service account and its Role (deploy/job_manifests.py).
                 ("v1", "ServiceAccount"), ("rbac.authorization.k8s.io/v1", "Role"),
                 ("rbac.authorization.k8s.io/v1", "RoleBinding")]
        return (kinds + ([SERVICE_MONITOR] if self._monitored() else [])
                + ([VIRTUAL_SERVICE] if self.view.istio() else []))

    def _monitored(self) -> bool:
        """Whether the cluster runs the Prometheus Operator (serves ServiceMonitors)."""
        return self.cluster.serves(SERVICE_MONITOR_VERSION)

    def deploy(self, project: Project, progress: Progress, *, force: bool = False) -> list[DeployResult]:
        progress(f"checking {self.cluster.server}, namespace {self.env.namespace}")
        check_capacity(self.cluster, project, self.env, progress)
        check_aws_secret(self.cluster, self.env)
        hpa_version = self.cluster.hpa_version()
        registry = self.registry()
        context = build_context(project, self.env.base_image)
        image = registry.reference(image_tag(context))
        desired = render_manifests(project, self.env, image=image, hpa_version=hpa_version, context=context,
                                   istio=self.view.istio())
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
        results = [DeployResult(api, action, None if action == "deleted" else self.view.endpoint_or_none(api))
                   for api, action in api_actions(changes).items()]
        report_models(self.cluster, desired, results, self.view.reachable, progress, self.env.name)
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

    def status(self, api: str | None = None, *, detail: bool = False) -> list[APIStatus]:
        return self.view.status(api, detail=detail)

    def logs(self, api: str, *, follow: bool = False, tail: int = 200) -> Iterator[str]:
        return self.view.logs(api, follow=follow, tail=tail)

    def refresh(self, api: str, progress: Progress) -> DeployResult:
        self.view.deployments(api)
        progress(f"{api}: restarting its pods")
        self._restart(api)
        wait_for_rollouts(self.cluster, self._workloads([api]), progress, self.env.rollout_timeout)
        return DeployResult(api, "updated", self.view.endpoint_or_none(api))

    def delete(self, api: str | None, progress: Progress) -> list[DeployResult]:
        if api:
            self.view.routes(api) or self.view.deployments(api)  # NotDeployed if neither
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
        url = self.view.endpoint_or_none(api)
        if url is None:
            raise DeployError(f"api '{api}' has no address reachable from outside the cluster yet",
                              hint="use an ingress (mlserve env set ... --ingress-host) or a LoadBalancer "
                                   "service type, or wait for a replica to be ready")
        return url
