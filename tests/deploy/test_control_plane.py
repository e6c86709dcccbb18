"""The autoscaler's objects per namespace: valid, least privilege, reconciled without losing state."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
from pydantic import ValidationError

from mlserve.deploy.control_plane import RULES, plan_control_plane, render_control_plane
from mlserve.deploy.environments import Environment
from mlserve.deploy.manifests import CONFIG_HASH
from mlserve.errors import DeployError
from mlserve.spec import load_project

KUBE = Environment(name="prod", provider="kubernetes", registry="registry.example.com/team", namespace="serving")
E2E = KUBE.model_copy(update=dict(host_network=True, node_selector={"kubernetes.io/hostname": "real-node-1"},
                                  autoscaler_api_server="https://127.0.0.1:6443",
                                  autoscaler_scrape_cidrs=["127.0.0.0/8"], autoscaler_interval=2))


def render(env=KUBE, image="registry.example.com/team/mlserve:abc", dependencies="d1"):
    return render_control_plane(env, image=image, dependencies=dependencies)


def project(tmp_path, name="qa"):
    (tmp_path / "p.py").write_text("class P:\n    def predict(self, payload):\n        return payload\n")
    (tmp_path / "cortex.yaml").write_text(f"- name: {name}\n  predictor: {{path: p.py}}\n")
    return load_project(tmp_path)


@pytest.mark.parametrize("env", [KUBE, E2E], ids=["plain", "host-network"])
def test_objects_are_valid(env):
    objects = render(env)
    assert [o["kind"] for o in objects] == ["ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Deployment"]
    for obj in objects:
        kubernetes_validate.validate(obj, "1.37.0", strict=True)


def test_role_is_least_privilege():
    # Read pods and Deployments, set replicas only through the scale subresource (it cannot change
    # what a Deployment runs), and its own ConfigMap by name. No secrets, no create, no delete.
    assert RULES == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]},
        {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"]},
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["mlserve-autoscaler"],
         "verbs": ["get", "patch"]},
    ]
    binding = render()[2]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mlserve-autoscaler", "namespace": "serving"}]


def test_deployment_carries_the_environments_settings():
    deployment = render(E2E)[-1]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["python", "-m", "mlserve.autoscaler"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env == {"MLSERVE_AUTOSCALER_NAMESPACE": None, "MLSERVE_AUTOSCALER_API_SERVER": "https://127.0.0.1:6443",
                   "MLSERVE_AUTOSCALER_SCRAPE_CIDRS": "127.0.0.0/8", "MLSERVE_AUTOSCALER_INTERVAL": "2"}
    assert pod["hostNetwork"] is True and pod["nodeSelector"] == {"kubernetes.io/hostname": "real-node-1"}
    assert pod["serviceAccountName"] == "mlserve-autoscaler"
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    plain = render()[-1]["spec"]["template"]["spec"]
    assert "hostNetwork" not in plain and "nodeSelector" not in plain
    plain_env = {e["name"] for e in plain["containers"][0]["env"]}
    assert "MLSERVE_AUTOSCALER_API_SERVER" not in plain_env  # in-cluster service address


def test_plan_creates_updates_and_keeps_the_state(tmp_path):
    p = project(tmp_path)
    desired = render()
    assert [verb for verb, _ in plan_control_plane(desired, [], p)] == ["create"] * 5
    live = copy.deepcopy(desired)
    live[3]["data"] = {"qa.json": "{}"}  # the controller's state
    assert plan_control_plane(desired, live, p) == []
    # Another image of the same mlserve (another project's deploy): nothing to do.
    assert plan_control_plane(render(image="registry.example.com/team/mlserve:other"), live, p) == []
    # Another mlserve, or other settings: the Deployment is updated; the ConfigMap never is.
    changes = plan_control_plane(render(E2E, dependencies="d2"), live, p)
    assert [(verb, obj["kind"]) for verb, obj in changes] == [("update", "Deployment")]
    assert all(obj["metadata"]["annotations"][CONFIG_HASH] for _, obj in changes)


def test_an_api_cannot_take_the_autoscalers_name(tmp_path):
    with pytest.raises(DeployError, match="api 'mlserve-autoscaler' has the name of mlserve's autoscaler"):
        plan_control_plane(render(), [], project(tmp_path, "mlserve-autoscaler"))


def test_environment_checks_the_scrape_allow_list():
    with pytest.raises(ValidationError, match="'loopback' is not an address range"):
        KUBE.model_copy(update={}).model_validate({**KUBE.model_dump(), "autoscaler_scrape_cidrs": ["loopback"]})
