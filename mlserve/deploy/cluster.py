"""The few Kubernetes API calls mlserve makes, on one namespace, with errors a user can act on."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from mlserve.deploy.environments import Environment
from mlserve.deploy.manifests import HPA_VERSIONS, MANAGED_BY, MANAGER
from mlserve.errors import DeployError, EnvironmentConfigError

FIELD_MANAGER = "mlserve"


def api_client_from_kubeconfig(env: Environment):
    """An ApiClient for the environment's kubeconfig/context (or in-cluster credentials)."""
    from kubernetes import client, config

    configuration = client.Configuration()
    path = env.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    path = os.path.expanduser(path.split(os.pathsep)[0])
    try:
        if Path(path).is_file():
            config.load_kube_config(config_file=path, context=env.context, client_configuration=configuration)
        elif env.kubeconfig:
            raise EnvironmentConfigError(f"environment '{env.name}': kubeconfig {path} does not exist",
                                         hint=f"mlserve env set {env.name} --kubeconfig PATH")
        else:
            config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException as e:
        raise EnvironmentConfigError(
            f"environment '{env.name}': cannot use kubeconfig {path}: {e}",
            hint=f"check the file and context, or set them: mlserve env set {env.name} --kubeconfig PATH --context NAME",
        ) from None
    return client.ApiClient(configuration)


class Cluster:
    def __init__(self, api_client, namespace: str) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self._dynamic = None
        self._served: set[str] | None = None

    @property
    def server(self) -> str:
        return self.api_client.configuration.host

    @contextlib.contextmanager
    def calls(self, what: str, passthrough: tuple[int, ...] = ()):
        """Turn API and connection errors into DeployError naming the server and the operation;
        API errors with a status in `passthrough` are the caller's to handle."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            yield
        except ApiException as e:
            if e.status in passthrough:
                raise
            detail = e.reason
            with contextlib.suppress(Exception):
                detail = json.loads(e.body).get("message") or detail
            hint = None
            if e.status in (401, 403):
                hint = "the kubeconfig's credentials are not allowed to do this; check the user and its role"
            raise DeployError(f"{what} on {self.server} failed ({e.status}): {detail}", hint=hint) from None
        except (HTTPError, OSError) as e:
            reason = getattr(e, "reason", None) or e  # urllib3 wraps the socket error in retries
            raise DeployError(f"{what}: cannot reach the Kubernetes API server at {self.server}: {reason}",
                              hint="check that the cluster is running and the kubeconfig points at it") from None

    @property
    def dynamic(self):
        if self._dynamic is None:
            from kubernetes.dynamic import DynamicClient

            with self.calls("discovering the API"):
                self._dynamic = DynamicClient(self.api_client)
        return self._dynamic

    def resource(self, api_version: str, kind: str):
        with self.calls(f"looking up {kind} ({api_version})"):
            return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def served_versions(self) -> set[str]:
        """Every API group/version the server has ("autoscaling/v2", a CRD's), by API discovery;
        asked once per Cluster (one command)."""
        if self._served is None:
            from kubernetes import client

            with self.calls("listing API groups"):
                groups = client.ApisApi(self.api_client).get_api_versions().groups
            self._served = {f"{g.name}/{v.version}" for g in groups for v in g.versions}
        return self._served

    def serves(self, api_version: str) -> bool:
        """Whether the server has this API group/version (e.g. a CRD's)."""
        return api_version in self.served_versions()

    def hpa_version(self) -> str:
        """autoscaling/v2 where the server has it, else v2beta2 (found by API discovery)."""
        for version in HPA_VERSIONS:
            if self.serves(version):
                return version
        raise DeployError(f"{self.server} serves neither {' nor '.join(HPA_VERSIONS)}",
                          hint="mlserve needs Kubernetes 1.12 or newer")

    def ensure_namespace(self) -> None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        core = client.CoreV1Api(self.api_client)
        try:
            core.read_namespace(self.namespace)
        except ApiException as e:
            if e.status != 404:
                return  # not allowed to read namespaces: assume it exists, creation errors will say
            with self.calls(f"creating namespace {self.namespace}"):
                core.create_namespace({"metadata": {"name": self.namespace}})

    def list_managed(self, kinds: list[tuple[str, str]], label_selector: str = "") -> list[dict]:
        selector = ",".join(s for s in (f"{MANAGED_BY}={MANAGER}", label_selector) if s)
        out = []
        for api_version, kind in kinds:
            res = self.resource(api_version, kind)
            with self.calls(f"listing {kind}s in namespace {self.namespace}"):
                items = res.get(namespace=self.namespace, label_selector=selector).items
            for item in items:
                obj = item.to_dict()
                obj.setdefault("apiVersion", api_version)
                obj.setdefault("kind", kind)
                out.append(obj)
        return out

    def get(self, api_version: str, kind: str, name: str) -> dict | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        res = self.resource(api_version, kind)
        try:
            with self.calls(f"reading {kind} {name}", passthrough=(404,)):
                return res.get(name=name, namespace=self.namespace).to_dict()
        except NotFoundError:
            return None

    def apply(self, obj: dict) -> dict:
        """Server-side apply: fields mlserve set before and no longer sets are removed."""
        res = self.resource(obj["apiVersion"], obj["kind"])
        what = f"applying {obj['kind']} {obj['metadata']['name']}"
        with self.calls(what):
            return res.server_side_apply(body=obj, namespace=self.namespace, field_manager=FIELD_MANAGER,
                                         force_conflicts=True).to_dict()

    def create(self, obj: dict) -> dict:
        """Apply a new object, refusing to take over one of the same name that mlserve did not make."""
        if self.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"]) is not None:
            raise DeployError(
                f"a {obj['kind']} named '{obj['metadata']['name']}' already exists in namespace "
                f"'{self.namespace}' and is not managed by mlserve",
                hint="rename the api, delete that object, or deploy to another namespace",
            )
        return self.apply(obj)

    def patch(self, api_version: str, kind: str, name: str, body: dict) -> dict:
        res = self.resource(api_version, kind)
        with self.calls(f"patching {kind} {name}"):
            return res.patch(body=body, name=name, namespace=self.namespace,
                             content_type="application/merge-patch+json").to_dict()

    def delete(self, api_version: str, kind: str, name: str) -> None:
        from kubernetes.dynamic.exceptions import NotFoundError

        res = self.resource(api_version, kind)
        with contextlib.suppress(NotFoundError), self.calls(f"deleting {kind} {name}", passthrough=(404,)):
            res.delete(name=name, namespace=self.namespace, body={"propagationPolicy": "Background"})

    def nodes(self) -> list[dict] | None:
        """The cluster's nodes; None where the credentials may not list them (RBAC)."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        try:
            with self.calls("listing nodes", passthrough=(401, 403)):
                items = client.CoreV1Api(self.api_client).list_node().items
        except ApiException:
            return None
        return [self.api_client.sanitize_for_serialization(n) for n in items]

    def pods(self, label_selector: str) -> list[dict]:
        return self.list_managed([("v1", "Pod")], label_selector)

    def pod_get(self, pod: dict, port: int, path: str, timeout: float = 2.0) -> str | None:
        """GET a pod's HTTP path through the API server's proxy; on the host network (where
        the proxy refuses node-local addresses) straight from the node. None if unreachable."""
        import httpx
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        name = pod["metadata"]["name"]
        try:
            response = self.dynamic.request("get", f"/api/v1/namespaces/{self.namespace}/pods/{name}:{port}/proxy{path}",
                                            _request_timeout=timeout)
            return response.data.decode()
        except (ApiException, HTTPError, OSError):
            pass
        host = (pod.get("status") or {}).get("hostIP")
        if not (pod.get("spec") or {}).get("hostNetwork") or not host:
            return None
        try:
            response = httpx.get(f"http://{host}:{port}{path}", timeout=timeout)
            return response.text if response.status_code == 200 else None
        except httpx.HTTPError:
            return None

    def log(self, pod: str, *, previous: bool = False, tail: int | None = None) -> str:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        core = client.CoreV1Api(self.api_client)
        try:
            # An empty log comes back as None.
            return core.read_namespaced_pod_log(pod, self.namespace, container="api", previous=previous,
                                                tail_lines=tail) or ""
        except ApiException as e:
            return f"(no log: {e.reason})"

    def follow_log(self, pod: str, *, tail: int) -> Iterator[str]:
        from kubernetes import client

        core = client.CoreV1Api(self.api_client)
        with self.calls(f"streaming the log of {pod}"):
            resp = core.read_namespaced_pod_log(pod, self.namespace, container="api", follow=True,
                                                tail_lines=tail, _preload_content=False)
        pending = b""
        try:
            for chunk in resp.stream(amt=4096):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                yield from (line.decode(errors="replace") for line in lines)
        finally:
            resp.release_conn()
        if pending:
            yield pending.decode(errors="replace")
