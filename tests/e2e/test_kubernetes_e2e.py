"""`mlserve deploy --env` against a real cluster: build, push, roll out, update, remove, fail."""

from __future__ import annotations

import json

import pytest
import yaml

pytestmark = pytest.mark.e2e
ENV = "e2e"

FAREWELL = """
- name: farewell
  predictor:
    path: predictors/greeter.py
    config:
      greeting: goodbye
  compute:
    cpu: 100m
  update_strategy:
    max_surge: 0
    max_unavailable: 1
"""


@pytest.fixture(scope="module")
def k8s(cluster):
    cluster.mlserve("env", "set", ENV, "--provider", "kubernetes", *cluster.env_args())
    return cluster


def deploy(k8s, project, check=True):
    return k8s.mlserve("deploy", project / "cortex.yaml", "--env", ENV, check=check)


def actions(result) -> dict[str, str]:
    rows = [line.split() for line in result.stdout.splitlines()]
    return {r[0]: r[1] for r in rows if len(r) >= 2 and r[1] in ("created", "updated", "unchanged", "deleted")}


def test_deploy_update_and_remove(k8s, project):
    spec = project / "cortex.yaml"
    spec.write_text(spec.read_text() + FAREWELL)

    first = deploy(k8s, project)
    assert actions(first) == {"greeter": "created", "farewell": "created"}
    assert k8s.post(ENV, "greeter", spec, {"name": "Ada"}) == {"message": "hello, Ada"}
    assert k8s.post(ENV, "farewell", spec, {"name": "Ada"}) == {"message": "goodbye, Ada"}

    # nothing changed: nothing is built, pushed or restarted
    again = deploy(k8s, project)
    assert actions(again) == {"greeter": "unchanged", "farewell": "unchanged"}
    assert "building" not in again.stderr and "pushing" not in again.stderr

    # one API's config changes: it alone rolls over to a new pod with the new answer
    greeter_pods, farewell_pods = k8s.pods("greeter"), k8s.pods("farewell")
    spec.write_text(spec.read_text().replace("greeting: hello", "greeting: bonjour"))
    updated = deploy(k8s, project)
    assert actions(updated) == {"greeter": "updated", "farewell": "unchanged"}
    assert k8s.post(ENV, "greeter", spec, {"name": "Ada"}) == {"message": "bonjour, Ada"}
    assert k8s.pods("greeter").isdisjoint(greeter_pods)
    assert k8s.pods("farewell") == farewell_pods

    # autoscaling and update strategy only: updated in place, no pod of either API restarts
    greeter_pods, farewell_pods = k8s.pods("greeter"), k8s.pods("farewell")
    farewell_rs = k8s.replica_sets("farewell")
    greeter_part, farewell_part = spec.read_text().split("- name: farewell")
    spec.write_text(greeter_part + "- name: farewell" + farewell_part.replace(  # (no surge: the host network)
        "  update_strategy:\n    max_surge: 0\n    max_unavailable: 1\n",
        "  autoscaling:\n    max_replicas: 7\n  update_strategy:\n    max_surge: 0\n    max_unavailable: 2\n"))
    scaled = deploy(k8s, project)
    assert actions(scaled) == {"greeter": "unchanged", "farewell": "updated"}
    assert "building" not in scaled.stderr and "pushing" not in scaled.stderr
    assert k8s.pods("greeter") == greeter_pods and k8s.pods("farewell") == farewell_pods
    assert k8s.replica_sets("farewell") == farewell_rs  # no new pod template, so no rollout at all
    farewell = json.loads(k8s.mlserve("get", "farewell", "--env", ENV, "--spec", spec, "-o", "json").stdout)
    assert farewell["spec"]["autoscaling"]["max_replicas"] == 7  # what the autoscaler reads
    assert k8s.post(ENV, "farewell", spec, {"name": "Ada"}) == {"message": "goodbye, Ada"}

    # the cluster's view: ready replicas, the spec, the logs
    status = json.loads(k8s.mlserve("get", "--env", ENV, "--spec", spec, "-o", "json").stdout)
    assert {s["api"]: s["status"] for s in status} == {"farewell": "live", "greeter": "live"}
    detail = json.loads(k8s.mlserve("get", "greeter", "--env", ENV, "--spec", spec, "-o", "json").stdout)
    assert detail["spec"]["predictor"]["config"] == {"greeting": "bonjour"}
    assert detail["replicas"].startswith("1/1 ready")
    assert detail["requests"] >= 1 and detail["responses_2xx"] >= 1  # from the pod's /metrics
    logs = k8s.mlserve("logs", "greeter", "--env", ENV, "--spec", spec).stdout
    assert "Uvicorn running" in logs or "Application startup complete" in logs

    # `logs -f` streams the pod's log (here: its first lines, then it is stopped)
    followed = k8s.follow("logs", "greeter", "--env", ENV, "--spec", spec, "-f")
    assert all(followed) and any("Started server process" in line for line in followed), followed

    # refresh: new pods, same spec
    greeter_pods = k8s.pods("greeter")
    k8s.mlserve("refresh", "greeter", "--env", ENV, "--spec", spec)
    assert k8s.pods("greeter").isdisjoint(greeter_pods)
    assert k8s.post(ENV, "greeter", spec, {"name": "Bo"}) == {"message": "bonjour, Bo"}

    # an API removed from cortex.yaml is deleted, the other one left alone
    apis = [a for a in yaml.safe_load(spec.read_text()) if a["name"] != "farewell"]
    spec.write_text(yaml.safe_dump(apis))
    removed = deploy(k8s, project)
    assert actions(removed) == {"greeter": "unchanged", "farewell": "deleted"}
    assert k8s.objects("farewell") == []
    assert k8s.objects("greeter") == ["Deployment", "Service"]  # mlserve's autoscaler scales it, no HPA

    k8s.mlserve("delete", "--all", "--env", ENV, "--spec", spec)
    assert k8s.objects("greeter") == [] and k8s.pods("greeter") == set()


def test_init_failure_is_reported_with_its_log(k8s, project):
    spec = project / "cortex.yaml"
    spec.write_text(
        "- name: broken\n  predictor:\n    path: predictors/broken.py\n"
        "    config: {weights: /models/missing.bin}\n"
        "  update_strategy: {max_surge: 0, max_unavailable: 1}\n")
    result = deploy(k8s, project, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "api 'broken'" in result.stderr and "exited with code 3" in result.stderr
    assert "FileNotFoundError: model weights not found at /models/missing.bin" in result.stderr
    assert "Traceback" in result.stderr  # the user's traceback, from the pod's log
    status = json.loads(k8s.mlserve("get", "broken", "--env", ENV, "--spec", spec, "-o", "json").stdout)
    assert status["status"].startswith("error")
    k8s.mlserve("delete", "broken", "--env", ENV, "--spec", spec)
    assert k8s.objects("broken") == []


def test_dry_run_prints_what_deploy_applies(k8s, project):
    out = k8s.mlserve("deploy", project / "cortex.yaml", "--env", ENV, "--dry-run", "-o", "yaml").stdout
    objects = list(yaml.safe_load_all(out))
    assert [o["kind"] for o in objects] == ["Deployment", "Service"]
    image = objects[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith(f"{k8s.registry}/mlserve:")
    assert k8s.objects("greeter") == []  # nothing was applied
