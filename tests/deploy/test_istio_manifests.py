"""Traffic splitters where the cluster serves Istio's VirtualService: a route, not a pod."""

from __future__ import annotations

import pytest

from mlserve.deploy.environments import Environment
from mlserve.deploy.istio import DEFAULT_GATEWAY, render_virtual_service
from mlserve.deploy.manifests import COMPONENT, CONFIG_HASH, PART_OF, TEMPLATE_HASH
from mlserve.deploy.reconcile import api_actions, plan, rollout_needed
from mlserve.deploy.render import render_manifests
from mlserve.errors import EnvironmentConfigError
from mlserve.runtime.mesh import MESH_PATH, PATH_ENV
from mlserve.spec import load_project
from tests.deploy.test_kubernetes_manifests import KUBE, by_kind, make_project
from tests.deploy.test_splitter_manifests import IMAGE, SPLIT

SHADOWED = SPLIT + "    - {name: v3, shadow: true}\n" + """\
- name: v3
  predictor: {path: p.py}
"""


def render(tmp_path, text=SPLIT % (90, 10), env=KUBE, istio=True):
    return render_manifests(make_project(tmp_path, text), env, image=IMAGE, istio=istio)


def pod_env(objects, api) -> dict:
    container = by_kind(objects, "Deployment", api)["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_a_splitter_is_one_virtual_service_with_its_weights(tmp_path):
    objects = render(tmp_path)
    mine = [o for o in objects if o["metadata"]["name"] == "canary"]
    assert [o["kind"] for o in mine] == ["VirtualService"]  # no splitter Deployment or Service
    (vs,) = mine
    assert vs["apiVersion"] == "networking.istio.io/v1beta1" and vs["metadata"]["namespace"] == "serving"
    assert vs["metadata"]["labels"][COMPONENT] == "traffic-splitter"
    assert vs["metadata"]["labels"][PART_OF] == tmp_path.name
    assert vs["spec"]["hosts"] == ["*"] and vs["spec"]["gateways"] == [DEFAULT_GATEWAY]
    (route,) = vs["spec"]["http"]
    assert route["match"] == [{"uri": {"exact": "/classify"}}]
    # One rewrite for every destination: the path each API also answers on in this mode.
    assert route["rewrite"] == {"uri": MESH_PATH}
    assert route["route"] == [
        {"destination": {"host": "v1.serving.svc.cluster.local", "port": {"number": 80}}, "weight": 90},
        {"destination": {"host": "v2.serving.svc.cluster.local", "port": {"number": 80}}, "weight": 10}]
    assert route["retries"] == {"attempts": 2, "retryOn": "connect-failure,refused-stream"}  # never a 5xx
    assert "mirror" not in route


def test_the_shadow_api_is_the_routes_mirror(tmp_path):
    (route,) = by_kind(render(tmp_path, SHADOWED % (0, 100)), "VirtualService", "canary")["spec"]["http"]
    assert [(d["destination"]["host"], d["weight"]) for d in route["route"]] == [
        ("v1.serving.svc.cluster.local", 0), ("v2.serving.svc.cluster.local", 100)]
    assert route["mirror"] == {"host": "v3.serving.svc.cluster.local", "port": {"number": 80}}
    assert route["mirrorPercentage"] == {"value": 100.0}


def test_gateway_and_host_come_from_the_environment(tmp_path):
    env = KUBE.model_copy(update=dict(istio_gateway="edge/public", ingress_host="api.example.com"))
    vs = by_kind(render(tmp_path, env=env), "VirtualService", "canary")
    assert vs["spec"]["gateways"] == ["edge/public"] and vs["spec"]["hosts"] == ["api.example.com"]
    with pytest.raises(ValueError, match="'edge public' is not an Istio Gateway: use namespace/name"):
        Environment(name="x", provider="kubernetes", registry="r", istio_gateway="edge public")


def test_api_pods_answer_on_the_mesh_path_only_in_istio_mode(tmp_path):
    istio, plain = render(tmp_path), render(tmp_path, istio=False)
    for api in ("v1", "v2"):
        assert pod_env(istio, api)[PATH_ENV] == MESH_PATH
        assert PATH_ENV not in pod_env(plain, api)
    # Elsewhere the pods stay exactly as they were; switching to Istio rolls them once.
    def template_hash(objects):
        return by_kind(objects, "Deployment", "v1")["spec"]["template"]["metadata"]["annotations"][TEMPLATE_HASH]

    assert template_hash(istio) != template_hash(plain)
    changes = plan(istio, plain, tmp_path.name)
    assert sorted(rollout_needed(changes)) == ["v1", "v2"]
    assert {(c.verb, c.kind) for c in changes if c.name == "canary"} == {
        ("create", "VirtualService"), ("delete", "Deployment"), ("delete", "Service")}


def test_weight_change_updates_only_the_virtual_service_and_removal_prunes_it(tmp_path):
    live = render(tmp_path, SPLIT % (90, 10))
    assert api_actions(plan(live, [], tmp_path.name)) == {"v1": "created", "v2": "created", "canary": "created"}
    changes = plan(render(tmp_path, SPLIT % (50, 50)), live, tmp_path.name)
    assert {(c.kind, c.name) for c in changes if c.verb != "unchanged"} == {("VirtualService", "canary")}
    assert rollout_needed(changes) == []  # no pod anywhere restarts
    assert api_actions(changes) == {"v1": "unchanged", "v2": "unchanged", "canary": "updated"}
    (tmp_path / "cortex.yaml").write_text(SPLIT.split("- name: canary")[0])
    gone = plan(render_manifests(load_project(tmp_path), KUBE, image=IMAGE, istio=True), live, tmp_path.name)
    assert {(c.verb, c.kind, c.name) for c in gone if c.verb != "unchanged"} == {
        ("delete", "VirtualService", "canary")}


def test_config_hash_follows_the_weights(tmp_path):
    project = make_project(tmp_path, SPLIT % (90, 10))
    first = render_virtual_service(project.splitters[0], project, KUBE)
    again = render_virtual_service(project.splitters[0], project, KUBE)
    moved = render_virtual_service(make_project(tmp_path, SPLIT % (80, 20)).splitters[0], project, KUBE)
    assert first["metadata"]["annotations"][CONFIG_HASH] == again["metadata"]["annotations"][CONFIG_HASH]
    assert first["metadata"]["annotations"][CONFIG_HASH] != moved["metadata"]["annotations"][CONFIG_HASH]


def test_a_bad_gateway_in_the_config_file_is_named(tmp_path, monkeypatch):
    from mlserve.deploy.environments import get_environment

    config = tmp_path / "environments.yaml"
    config.write_text("environments:\n  prod:\n    provider: kubernetes\n    registry: r\n    istio_gateway: A/B\n")
    monkeypatch.setenv("MLSERVE_CONFIG", str(config))
    with pytest.raises(EnvironmentConfigError, match=r"environment 'prod': istio_gateway: 'A/B' is not an Istio"):
        get_environment("prod")
