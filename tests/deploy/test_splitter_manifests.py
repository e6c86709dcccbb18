"""Traffic splitters on Kubernetes: a Deployment + Service from the project image, valid objects."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from mlserve.deploy.manifests import COMPONENT, CONFIG_HASH, PART_OF
from mlserve.deploy.reconcile import plan, rollout_needed, to_apply
from mlserve.deploy.render import render_manifests
from mlserve.spec import load_project
from tests.deploy.test_kubernetes_manifests import KUBE, SCHEMA_VERSIONS, by_kind, make_project

SPLIT = """\
- name: v1
  predictor: {path: p.py}
- name: v2
  predictor: {path: p.py}
  networking: {endpoint: /models/v2}
- name: canary
  kind: TrafficSplitter
  networking: {endpoint: /classify}
  apis:
    - {name: v1, weight: %d}
    - {name: v2, weight: %d}
"""
IMAGE = "registry.example.com/team/mlserve:abc"


def render(tmp_path, env=KUBE, weights=(90, 10)):
    return render_manifests(make_project(tmp_path, SPLIT % weights), env, image=IMAGE)


def routes_of(deployment: dict) -> dict:
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    return json.loads(env["MLSERVE_SPLITTER_ROUTES"])


@pytest.mark.parametrize("env", [KUBE, KUBE.model_copy(update=dict(host_network=True))], ids=["plain", "host-network"])
def test_splitter_objects_are_valid(tmp_path, env):
    objects = render(tmp_path, env)
    mine = [o for o in objects if o["metadata"]["name"] == "canary"]
    assert sorted(o["kind"] for o in mine) == ["Deployment", "Service"]  # no HPA: one small proxy
    for obj in mine:
        assert obj["metadata"]["labels"][COMPONENT] == "traffic-splitter"
        assert obj["metadata"]["labels"][PART_OF] == tmp_path.name
        for version in SCHEMA_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)
    container = by_kind(objects, "Deployment", "canary")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE and container["command"] == ["python", "-m", "mlserve.splitter"]


def test_backends_are_addressed_by_service_name_or_the_environments_host(tmp_path):
    urls = {b["name"]: b["url"] for b in routes_of(by_kind(render(tmp_path), "Deployment", "canary"))["backends"]}
    assert urls == {"v1": "http://v1.serving.svc.cluster.local:80/v1",
                    "v2": "http://v2.serving.svc.cluster.local:80/models/v2"}
    host_env = KUBE.model_copy(update=dict(host_network=True))
    objects = render(tmp_path, host_env)
    port = {o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
            for o in objects if o["kind"] == "Deployment"}
    assert len(set(port.values())) == 3  # each on its own node port
    routes = routes_of(by_kind(objects, "Deployment", "canary"))
    assert routes["endpoint"] == "/classify"
    assert [(b["url"], b["weight"]) for b in routes["backends"]] == [
        (f"http://127.0.0.1:{port['v1']}/v1", 90), (f"http://127.0.0.1:{port['v2']}/models/v2", 10)]
    other = render(tmp_path, KUBE.model_copy(update=dict(host_network=True, splitter_backend_host="10.0.0.7")))
    assert routes_of(by_kind(other, "Deployment", "canary"))["backends"][0]["url"].startswith("http://10.0.0.7:")
    # On a host network the old pod frees the port before the new one starts.
    assert by_kind(objects, "Deployment", "canary")["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": 0, "maxUnavailable": 1}


def test_weight_change_updates_only_the_splitter_and_removal_prunes_it(tmp_path):
    first = render(tmp_path, weights=(90, 10))
    live = [{**o, "metadata": {**o["metadata"]}} for o in first]
    changes = plan(render(tmp_path, weights=(50, 50)), live, tmp_path.name)
    assert {(c.kind, c.name) for c in changes if c.verb == "update"} == {("Deployment", "canary")}
    # A new routing table is a new pod: `deploy` waits for it (else `get` finds no ready pod after it).
    assert rollout_needed(changes) == ["canary"]
    assert by_kind(first, "Deployment", "v1")["metadata"]["annotations"][CONFIG_HASH]
    (tmp_path / "cortex.yaml").write_text(SPLIT.split("- name: canary")[0])
    gone = plan(render_manifests(load_project(tmp_path), KUBE, image=IMAGE), live, tmp_path.name)
    assert {(c.kind, c.name) for c in gone if c.verb == "delete"} == {("Deployment", "canary"), ("Service", "canary")}


def test_new_mlserve_code_rolls_the_splitter_onto_the_new_image(tmp_path):
    project = make_project(tmp_path, SPLIT % (90, 10))
    live = render_manifests(project, KUBE, image=IMAGE)
    # Another base image stands for anything below the project (mlserve's code included).
    with_new_code = render_manifests(project, KUBE.model_copy(update=dict(base_image="python:3.12-slim")),
                                     image=IMAGE + "-new")
    (change,) = [c for c in plan(with_new_code, live, tmp_path.name) if c.name == "canary" and c.kind == "Deployment"]
    assert change.verb == "update" and rollout_needed([change]) == ["canary"]
    assert to_apply(change)["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE + "-new"
