"""A TrafficSplitter on a real cluster: two versions of an API behind a 50/50 splitter, then 100/0."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.e2e.test_kubernetes_e2e import ENV, actions, deploy

pytestmark = pytest.mark.e2e

SPLIT = """
- name: greeter-v2
  predictor:
    path: predictors/greeter.py
    config:
      greeting: bonjour
  compute:
    cpu: 100m
  update_strategy:
    max_surge: 0
    max_unavailable: 1
- name: greet
  kind: TrafficSplitter
  apis:
    - {name: greeter, weight: %d}
    - {name: greeter-v2, weight: %d}
"""


@pytest.fixture(scope="module")
def k8s(cluster):
    cluster.mlserve("env", "set", ENV, "--provider", "kubernetes", *cluster.env_args())
    return cluster


def greetings(k8s, spec, n: int) -> Counter:
    return Counter(k8s.post(ENV, "greet", spec, {"name": "Ada"})["message"] for _ in range(n))


def test_splitter_shares_traffic_then_moves_it(k8s, project):
    spec = project / "cortex.yaml"
    base = spec.read_text()
    spec.write_text(base + SPLIT % (50, 50))
    assert actions(deploy(k8s, project)) == {"greeter": "created", "greeter-v2": "created", "greet": "created"}
    assert greetings(k8s, spec, 20) == {"hello, Ada": 10, "bonjour, Ada": 10}  # round robin: exact halves

    spec.write_text(base + SPLIT % (100, 0))
    api_pods = k8s.pods("greeter") | k8s.pods("greeter-v2")
    assert actions(deploy(k8s, project)) == {"greeter": "unchanged", "greeter-v2": "unchanged", "greet": "updated"}
    assert greetings(k8s, spec, 10) == {"hello, Ada": 10}
    assert k8s.pods("greeter") | k8s.pods("greeter-v2") == api_pods  # the APIs kept running

    (status,) = [s for s in json.loads(k8s.mlserve("get", "--env", ENV, "--spec", spec, "-o", "json").stdout)
                 if s["api"] == "greet"]
    assert status["kind"] == "TrafficSplitter"
    assert [(b["api"], b["weight"]) for b in status["backends"]] == [("greeter", 100), ("greeter-v2", 0)]
    assert sum(b["requests"] for b in status["backends"]) >= 10  # the new pod's count since the update

    spec.write_text(base)
    assert actions(deploy(k8s, project))["greet"] == "deleted"
    assert k8s.objects("greet") == []
    k8s.mlserve("delete", "--all", "--env", ENV, "--spec", spec)
