"""A TrafficSplitter on a cluster that serves Istio's VirtualService kind: a route, not a pod.

The cluster gets Istio's VirtualService CRD for this test only (no Istio control or data plane:
nothing here routes traffic through Istio, so what is checked is what mlserve does to the cluster,
and that the API pods answer on the path Istio's route sends requests to). The CRD is removed at
the end, so the other e2e tests see a cluster without Istio.
"""

from __future__ import annotations

import json

import httpx
import pytest

from mlserve.runtime.mesh import MESH_PATH
from tests.e2e.custom_resources import installed
from tests.e2e.test_kubernetes_e2e import actions
from tests.e2e.test_splitter_e2e import SPLIT

pytestmark = pytest.mark.e2e
ENV = "e2e-istio"
GATEWAY = "istio-system/shop-gateway"
GROUP, VERSION, PLURAL = "networking.istio.io", "v1beta1", "virtualservices"
CRD_NAME = f"{PLURAL}.{GROUP}"
# The least a VirtualService CRD needs: the kind, served as networking.istio.io/v1beta1, any fields.
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": CRD_NAME},
    "spec": {"group": GROUP, "scope": "Namespaced",
             "names": {"kind": "VirtualService", "listKind": "VirtualServiceList", "plural": PLURAL,
                       "singular": "virtualservice", "shortNames": ["vs"]},
             "versions": [{"name": VERSION, "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
}


@pytest.fixture(scope="module")
def istio(cluster):
    """The cluster with the VirtualService CRD, and an environment on it that binds to GATEWAY."""
    with installed(cluster.api_client(), CRD):
        cluster.mlserve("env", "set", ENV, "--provider", "kubernetes", *cluster.env_args(),
                        "--istio-gateway", GATEWAY)
        yield cluster


def virtual_service(k8s, name: str) -> dict | None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        return client.CustomObjectsApi(k8s.api_client()).get_namespaced_custom_object(
            GROUP, VERSION, k8s.namespace, PLURAL, name)
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def weights(vs: dict) -> list[tuple[str, int]]:
    (route,) = vs["spec"]["http"]
    return [(d["destination"]["host"].split(".")[0], d["weight"]) for d in route["route"]]


def get(k8s, spec, api: str) -> dict:
    return json.loads(k8s.mlserve("get", api, "--env", ENV, "--spec", spec, "-o", "json").stdout)


def test_splitter_is_a_virtual_service_patched_and_pruned(istio, project):
    k8s = istio
    spec = project / "cortex.yaml"
    base = spec.read_text()
    spec.write_text(base + SPLIT % (50, 50))
    def deploy():
        return k8s.mlserve("deploy", spec, "--env", ENV)

    try:
        assert actions(deploy()) == {"greeter": "created", "greeter-v2": "created", "greet": "created"}
        vs = virtual_service(k8s, "greet")
        assert vs is not None and weights(vs) == [("greeter", 50), ("greeter-v2", 50)]
        (route,) = vs["spec"]["http"]
        assert route["match"] == [{"uri": {"exact": "/greet"}}] and route["rewrite"] == {"uri": MESH_PATH}
        assert vs["spec"]["gateways"] == [GATEWAY] and vs["spec"]["hosts"] == ["*"]
        assert k8s.objects("greet") == [] and k8s.pods("greet") == set()  # no splitter Deployment, Service, pod
        # Where Istio's route sends requests (MESH_PATH on each API's pods), each version answers.
        for api, answer in (("greeter", "hello, Ada"), ("greeter-v2", "bonjour, Ada")):
            endpoint = get(k8s, spec, api)["endpoint"]
            mesh_url = endpoint.rsplit("/", 1)[0] + MESH_PATH
            assert httpx.post(mesh_url, json={"name": "Ada"}, timeout=30).json() == {"message": answer}
        status = get(k8s, spec, "greet")
        assert (status["kind"], status["status"]) == ("TrafficSplitter", "live")
        assert [(b["api"], b["weight"]) for b in status["backends"]] == [("greeter", 50), ("greeter-v2", 50)]
        listed = k8s.mlserve("get", "--env", ENV, "--spec", spec).stdout
        assert "greeter: 50%  greeter-v2: 50%" in listed  # weights; the counts are Istio's telemetry

        # New weights: the VirtualService is patched in place, no pod restarts
        api_pods = k8s.pods("greeter") | k8s.pods("greeter-v2")
        spec.write_text(base + SPLIT % (100, 0))
        assert actions(deploy()) == {"greeter": "unchanged", "greeter-v2": "unchanged", "greet": "updated"}
        patched = virtual_service(k8s, "greet")
        assert weights(patched) == [("greeter", 100), ("greeter-v2", 0)]
        assert patched["metadata"]["uid"] == vs["metadata"]["uid"]  # the same object, updated
        assert k8s.pods("greeter") | k8s.pods("greeter-v2") == api_pods

        # The splitter leaves cortex.yaml: its VirtualService is pruned, the APIs stay
        spec.write_text(base + SPLIT.split("- name: greet\n")[0])  # greeter-v2 stays
        assert actions(deploy()) == {"greeter": "unchanged", "greeter-v2": "unchanged", "greet": "deleted"}
        assert virtual_service(k8s, "greet") is None
    finally:
        k8s.mlserve("delete", "--all", "--env", ENV, "--spec", spec, check=False)
