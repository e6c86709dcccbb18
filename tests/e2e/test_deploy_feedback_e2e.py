"""What `mlserve` tells a user on a real cluster when an API cannot run, or cannot roll, as asked:
a Pending pod in `get` and `logs`, requests larger than any node, rolling updates on the host
network, and the `try:` lines after a deploy."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.e2e.conftest import need
from tests.e2e.custom_resources import until
from tests.e2e.test_kubernetes_e2e import actions

pytestmark = pytest.mark.e2e
ENV = "e2e-feedback"
NOWHERE = "e2e-feedback-nowhere"  # a node selector no node matches: the scheduler says so


@pytest.fixture(scope="module")
def k8s(cluster):
    cluster.mlserve("env", "set", ENV, "--provider", "kubernetes", *cluster.env_args())
    cluster.mlserve("env", "set", NOWHERE, "--provider", "kubernetes", *cluster.env_args(pin_apis=False),
                    "--node-selector", "kubernetes.io/hostname=no-such-node", "--rollout-timeout", "5")
    return cluster


def _set(spec, **fields) -> None:
    """Replace top-level fields of the project's one API (None removes one)."""
    (api,) = yaml.safe_load(spec.read_text())
    for key, value in fields.items():
        if value is None:
            api.pop(key, None)
        else:
            api[key] = value
    spec.write_text(yaml.safe_dump([api], sort_keys=False))


def test_a_pending_pod_is_explained_by_get_and_logs(k8s, project):
    spec = project / "cortex.yaml"
    try:
        deployed = k8s.mlserve("deploy", spec, "--env", NOWHERE, check=False)
        assert deployed.returncode == 1, deployed.stdout + deployed.stderr  # not ready within 5 s...
        assert "is Pending: Unschedulable" in deployed.stderr, deployed.stderr  # ...and why

        listed = k8s.mlserve("get", "--env", NOWHERE, "--spec", spec).stdout
        (row,) = [line for line in listed.splitlines() if line.startswith("greeter ")]
        assert "pending" in row and "Unschedulable" in row and "didn't match" in row, listed

        logs = k8s.mlserve("logs", "greeter", "--env", NOWHERE, "--spec", spec, check=False)
        assert logs.returncode == 1, logs.stdout + logs.stderr
        assert "Traceback" not in logs.stderr
        assert "is Pending" in logs.stderr and "didn't match" in logs.stderr, logs.stderr
        assert "hint:" in logs.stderr
    finally:
        k8s.mlserve("delete", "--all", "--env", NOWHERE, "--spec", spec, check=False)


def test_compute_larger_than_every_node_is_refused_before_anything_runs(k8s, project):
    need("MLSERVE_TEST_NODE")  # pinned to it: the largest node the API may run on is known
    spec = project / "cortex.yaml"
    _set(spec, compute={"cpu": 64, "mem": "999Gi"})
    result = k8s.mlserve("deploy", spec, "--env", ENV, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    err = result.stderr
    assert "api 'greeter'" in err and "compute.cpu: asks for 64 CPUs" in err, err
    assert re.search(r"compute\.mem: asks for 999Gi, .* has [\d.]+Gi allocatable", err), err  # both, at once
    assert k8s.node in err and "2 CPUs" in err, err  # the largest node the API may run on
    assert "hint:" in err and "compute.cpu" in err.split("hint:")[1]
    assert "building" not in err and k8s.objects("greeter") == []


def test_the_capacity_check_is_skipped_with_a_note_where_nodes_cannot_be_listed(k8s, project):
    """A ServiceAccount with no role: the API server answers 403 to `list nodes`."""
    import base64

    from kubernetes import client

    from mlserve.deploy.capacity import check_capacity
    from mlserve.deploy.cluster import Cluster
    from mlserve.deploy.environments import Environment
    from mlserve.errors import SpecError
    from mlserve.spec import load_project

    spec = project / "cortex.yaml"
    _set(spec, compute={"cpu": 64})
    admin = k8s.api_client()
    core = client.CoreV1Api(admin)
    try:
        core.create_namespace({"metadata": {"name": k8s.namespace}})
    except client.exceptions.ApiException as e:
        if e.status != 409:
            raise
    core.create_namespaced_service_account(k8s.namespace, {"metadata": {"name": "no-nodes"}})

    def token() -> str | None:
        account = core.read_namespaced_service_account("no-nodes", k8s.namespace)
        if not account.secrets:
            return None
        secret = core.read_namespaced_secret(account.secrets[0].name, k8s.namespace)
        return base64.b64decode(secret.data["token"]).decode()

    conf = client.Configuration()
    conf.host, conf.ssl_ca_cert = admin.configuration.host, admin.configuration.ssl_ca_cert
    conf.verify_ssl = admin.configuration.verify_ssl
    conf.api_key = {"authorization": "Bearer " + until(token, "the ServiceAccount's token")}
    env, project_spec, notes = Environment(name="k", provider="kubernetes", registry=k8s.registry), load_project(spec), []
    check_capacity(Cluster(client.ApiClient(conf), k8s.namespace), project_spec, env, notes.append)
    assert notes == ["not checking compute against the nodes' capacity: this kubeconfig may not list nodes"]
    with pytest.raises(SpecError, match="compute.cpu"):  # the same request, where nodes can be listed
        check_capacity(Cluster(admin, k8s.namespace), project_spec, env, notes.append)


def test_host_network_rolls_one_pod_at_a_time_and_try_lines_name_the_env(k8s, project):
    from kubernetes import client

    need("MLSERVE_TEST_NODE")  # the host network
    spec = project / "cortex.yaml"
    _set(spec, update_strategy=None)  # the defaults (25%/25%): a surge pod would need the port in use
    try:
        first = k8s.mlserve("deploy", spec, "--env", ENV)
        assert "max_surge 0" in first.stdout + first.stderr  # deploy says what it chose, and why
        assert f"mlserve get --env {ENV}" in first.stdout and f"mlserve predict greeter --env {ENV}" in first.stdout
        deployment = client.AppsV1Api(k8s.api_client()).read_namespaced_deployment("greeter", k8s.namespace)
        rolling = deployment.spec.strategy.rolling_update
        assert (rolling.max_surge, rolling.max_unavailable) == (0, 1)

        # a changed API rolls over on the one node (a surge pod would wait for the port forever)
        spec.write_text(spec.read_text().replace("greeting: hello", "greeting: bonjour"))
        assert actions(k8s.mlserve("deploy", spec, "--env", ENV)) == {"greeter": "updated"}
        assert k8s.post(ENV, "greeter", spec, {"name": "Ada"}) == {"message": "bonjour, Ada"}
    finally:
        k8s.mlserve("delete", "--all", "--env", ENV, "--spec", spec, check=False)


def test_an_explicit_surge_on_the_host_network_is_refused(k8s, project):
    need("MLSERVE_TEST_NODE")  # the host network
    spec = project / "cortex.yaml"
    _set(spec, update_strategy={"max_surge": 1, "max_unavailable": 0})
    result = k8s.mlserve("deploy", spec, "--env", ENV, check=False)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "cortex.yaml:" in result.stderr and "update_strategy.max_surge" in result.stderr, result.stderr
    assert "max_surge: 0" in result.stderr.split("hint:")[1]
    assert k8s.objects("greeter") == []
