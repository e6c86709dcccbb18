"""The autoscaler's REST calls, as the Kubernetes API defines them (paths, patch type, token)."""

from __future__ import annotations

import json

import httpx
import pytest

from mlserve.autoscaler.kube import Credentials, KubeAPI
from mlserve.errors import DeployError


def api(tmp_path, handler) -> tuple[KubeAPI, list[httpx.Request]]:
    token = tmp_path / "token"
    token.write_text("t1\n")
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    credentials = Credentials("https://127.0.0.1:6443", token, None)
    return KubeAPI(credentials, "ns", transport=httpx.MockTransport(record)), seen


def test_calls_use_the_documented_paths_and_a_fresh_token(tmp_path):
    kube, seen = api(tmp_path, lambda r: httpx.Response(200, json={"items": [{"metadata": {"name": "a"}}],
                                                                   "data": {"a.json": "{}"}}))
    assert kube.list("apps/v1", "deployments", "a=b,c=d") == [{"metadata": {"name": "a"}}]
    assert kube.list("", "pods", "a=b")[0]["metadata"]["name"] == "a"
    (tmp_path / "token").write_text("t2")  # rotated on disk
    kube.scale("qa", 3)
    assert kube.read_configmap("mlserve-autoscaler") == {"a.json": "{}"}
    kube.patch_configmap("mlserve-autoscaler", {"a.json": None})
    assert [(r.method, r.url.path) for r in seen] == [
        ("GET", "/apis/apps/v1/namespaces/ns/deployments"),
        ("GET", "/api/v1/namespaces/ns/pods"),
        ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/qa/scale"),
        ("GET", "/api/v1/namespaces/ns/configmaps/mlserve-autoscaler"),
        ("PATCH", "/api/v1/namespaces/ns/configmaps/mlserve-autoscaler"),
    ]
    assert seen[0].url.params["labelSelector"] == "a=b,c=d"
    assert seen[0].headers["authorization"] == "Bearer t1" and seen[2].headers["authorization"] == "Bearer t2"
    assert seen[2].headers["content-type"] == "application/merge-patch+json"
    assert json.loads(seen[2].content) == {"spec": {"replicas": 3}}
    assert json.loads(seen[4].content) == {"data": {"a.json": None}}  # null removes the key


def test_errors_name_the_call_and_the_cause(tmp_path):
    kube, _ = api(tmp_path, lambda r: httpx.Response(403, json={"message": "pods is forbidden"}))
    with pytest.raises(DeployError, match=r"GET /api/v1/namespaces/ns/pods failed \(403\): pods is forbidden") as e:
        kube.list("", "pods", "a=b")
    assert "Role" in e.value.hint
    (tmp_path / "token").unlink()
    with pytest.raises(DeployError, match="cannot read the service account token"):
        kube.scale("qa", 2)
