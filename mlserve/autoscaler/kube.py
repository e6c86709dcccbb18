"""The few Kubernetes API calls the autoscaler (and a job service: jobs/kube_workers.py) makes, over
plain HTTPS with the pod's service account.

The serving image has httpx but not the kubernetes client (a large package the runtime never
needs); these calls are simple enough that plain REST is clearer than adding it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from mlserve.errors import DeployError

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Credentials:
    server: str  # https://host:port of the API server
    token_file: Path
    ca_file: Path | None  # None: the system's CAs

    @classmethod
    def in_cluster(cls, server: str | None = None) -> Credentials:
        """The pod's service account; the server is `server` or the in-cluster service address."""
        if not server:
            host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
            if not host:
                raise DeployError("no API server address: KUBERNETES_SERVICE_HOST is not set",
                                  hint="set MLSERVE_AUTOSCALER_API_SERVER (the environment's autoscaler_api_server)")
            server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
        ca = SERVICE_ACCOUNT / "ca.crt"
        return cls(server.rstrip("/"), SERVICE_ACCOUNT / "token", ca if ca.is_file() else None)


class KubeAPI:
    def __init__(self, credentials: Credentials, namespace: str, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.credentials = credentials
        self.namespace = namespace
        verify = str(credentials.ca_file) if credentials.ca_file else True
        self._http = httpx.Client(base_url=credentials.server, verify=verify, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs) -> dict:
        return self._request(method, path, **kwargs).json()

    def _request(self, method: str, path: str, missing_ok: bool = False, **kwargs) -> httpx.Response:
        # Read the token on every call: projected service-account tokens are rotated on disk.
        try:
            token = self.credentials.token_file.read_text().strip()
        except OSError as e:
            raise DeployError(f"cannot read the service account token {self.credentials.token_file}: {e}",
                              hint="the pod needs its service account token mounted") from None
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as e:
            raise DeployError(f"{method} {path}: cannot reach the API server at {self.credentials.server}: {e}",
                              hint="check the API server address the pod was given") from None
        if response.status_code == 404 and missing_ok:
            return response
        if response.status_code >= 400:
            try:
                detail = response.json().get("message") or response.text
            except ValueError:
                detail = response.text
            raise DeployError(f"{method} {path} failed ({response.status_code}): {detail}",
                              hint="check the pod's Role" if response.status_code == 403 else None)
        return response

    def _ns(self, group: str, resource: str) -> str:
        prefix = "/api/v1" if group == "" else f"/apis/{group}"
        return f"{prefix}/namespaces/{self.namespace}/{resource}"

    def list(self, group: str, resource: str, label_selector: str) -> list[dict]:
        return self._call("GET", self._ns(group, resource), params={"labelSelector": label_selector})["items"]

    def get(self, group: str, resource: str, name: str) -> dict | None:
        """One object; None where it does not exist."""
        response = self._request("GET", self._ns(group, f"{resource}/{name}"), missing_ok=True)
        return None if response.status_code == 404 else response.json()

    def create(self, group: str, resource: str, body: dict) -> dict:
        return self._call("POST", self._ns(group, resource), content=json.dumps(body),
                          headers={"Content-Type": "application/json"})

    def delete(self, group: str, resource: str, name: str) -> None:
        """Delete it and, in the background, what it owns (a Job's pods); a missing one is no error."""
        # Without a policy a Job's deletion orphans its pods (the API's default for Jobs).
        self._request("DELETE", self._ns(group, f"{resource}/{name}"), missing_ok=True,
                      params={"propagationPolicy": "Background"})

    def pod_log(self, pod: str, tail: int | None = None) -> str:
        params = {"tailLines": tail} if tail else {}
        return self._request("GET", self._ns("", f"pods/{pod}/log"), params=params).text

    def scale(self, deployment: str, replicas: int) -> None:
        self._merge_patch(self._ns("apps/v1", f"deployments/{deployment}/scale"), {"spec": {"replicas": replicas}})

    def read_configmap(self, name: str) -> dict[str, str]:
        return self._call("GET", self._ns("", f"configmaps/{name}")).get("data") or {}

    def patch_configmap(self, name: str, data: dict[str, str | None]) -> None:
        """Set keys (None removes a key)."""
        self._merge_patch(self._ns("", f"configmaps/{name}"), {"data": data})

    def _merge_patch(self, path: str, body: dict) -> None:
        self._call("PATCH", path, content=json.dumps(body), params={"fieldManager": "mlserve-autoscaler"},
                   headers={"Content-Type": "application/merge-patch+json"})
