"""A ServiceMonitor per API on a cluster that runs the Prometheus Operator (serves its CRD).

The cluster gets the operator's ServiceMonitor CRD (tests/e2e/crds/servicemonitor.yaml) for this
module only, no operator: what is checked is what mlserve stores in the real API server, that the
monitor selects exactly the API's Service and names its port, and that it goes with the API.
"""

from __future__ import annotations

import pytest

from tests.e2e.custom_resources import installed, load_crd
from tests.e2e.test_kubernetes_e2e import actions

pytestmark = pytest.mark.e2e
ENV = "e2e-monitoring"
GROUP, VERSION, PLURAL = "monitoring.coreos.com", "v1", "servicemonitors"


@pytest.fixture(scope="module")
def monitored(cluster):
    with installed(cluster.api_client(), load_crd("servicemonitor.yaml")):
        cluster.mlserve("env", "set", ENV, "--provider", "kubernetes", *cluster.env_args())
        yield cluster


def service_monitors(k8s) -> dict[str, dict]:
    from kubernetes import client

    listed = client.CustomObjectsApi(k8s.api_client()).list_namespaced_custom_object(
        GROUP, VERSION, k8s.namespace, PLURAL)
    return {m["metadata"]["name"]: m for m in listed["items"]}


def test_each_api_gets_a_service_monitor_that_goes_with_it(monitored, project):
    from kubernetes import client

    k8s = monitored
    spec = project / "cortex.yaml"
    try:
        assert actions(k8s.mlserve("deploy", spec, "--env", ENV)) == {"greeter": "created"}
        monitor = service_monitors(k8s)["greeter"]
        labels = monitor["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "mlserve" and labels["app.kubernetes.io/name"] == "greeter"
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": [k8s.namespace]}
        assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]
        # the operator finds Services by these labels: exactly the API's, and its port has that name
        selector = ",".join(f"{k}={v}" for k, v in monitor["spec"]["selector"]["matchLabels"].items())
        services = client.CoreV1Api(k8s.api_client()).list_namespaced_service(k8s.namespace, label_selector=selector)
        assert [s.metadata.name for s in services.items] == ["greeter"]
        assert [p.name for p in services.items[0].spec.ports] == ["http"]

        again = k8s.mlserve("deploy", spec, "--env", ENV)  # the stored monitor matches what is rendered
        assert actions(again) == {"greeter": "unchanged"} and "ServiceMonitor" not in again.stderr

        k8s.mlserve("delete", "greeter", "--env", ENV, "--spec", spec)
        assert "greeter" not in service_monitors(k8s) and k8s.objects("greeter") == []
    finally:
        k8s.mlserve("delete", "--all", "--env", ENV, "--spec", spec, check=False)
