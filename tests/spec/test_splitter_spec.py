"""`kind: TrafficSplitter` in cortex.yaml: its shape, its weights, the APIs it names."""

from __future__ import annotations

import logging

import pytest

from mlserve.spec import load_project
from tests.spec.test_loader import error_of, write

APIS = """
    - name: v1
      predictor: {path: p.py}
    - name: v2
      predictor: {path: p.py}
"""


def test_splitter_loads_beside_its_apis(tmp_path):
    spec = write(tmp_path, APIS + """
    - name: canary
      kind: TrafficSplitter
      apis:
        - {name: v1, weight: 90}
        - {name: v2, weight: 10}
        - {name: v2-shadow-free, shadow: true}
    - name: v2-shadow-free
      predictor: {path: p.py}
    """)
    project = load_project(spec)
    assert [a.name for a in project.apis] == ["v1", "v2", "v2-shadow-free"]
    (splitter,) = project.splitters
    assert splitter.endpoint == "/canary"
    assert [(a.name, a.weight) for a in splitter.primaries] == [("v1", 90), ("v2", 10)]
    assert splitter.shadow.name == "v2-shadow-free"


@pytest.mark.parametrize("apis, expected", [
    ("- {name: v1, weight: 90}\n- {name: v2, weight: 20}",
     "cortex.yaml:7: api 'canary': apis weights add up to 110, not 100"),
    ("- {name: v1, weight: 100}\n- {name: v2}",
     "cortex.yaml:9: api 'canary': apis.1.weight is required"),
    ("- {name: v1, weight: 100}\n- {name: v2, shadow: true}\n- {name: v3, shadow: true}",
     "cortex.yaml:7: api 'canary': apis has 2 shadow apis (v2, v3): at most one is allowed"),
    ("- {name: v1, weight: 50}\n- {name: v1, weight: 50}",
     "cortex.yaml:7: api 'canary': apis lists 'v1' more than once"),
    ("- {name: v1, weight: 100}\n- {name: v3, shadow: true}",
     "cortex.yaml:9: api 'canary': apis.1.name: no RealtimeAPI named 'v3' in this file"),
    ("- {name: v1, wieght: 100}",
     "cortex.yaml:8: api 'canary': apis.0: unknown field 'wieght'\n  hint: did you mean 'weight'?"),
    ("[]", "cortex.yaml:7: api 'canary': apis: List should have at least 1 item"),
])
def test_splitter_errors_name_line_and_field(tmp_path, apis, expected):
    body = "\n".join("        " + line for line in apis.splitlines())
    spec = write(tmp_path, APIS + "    - name: canary\n      kind: TrafficSplitter\n      apis:\n" + body + "\n")
    assert error_of(spec).startswith(str(tmp_path / expected.split(":", 1)[0]) + ":" + expected.split(":", 1)[1])


def test_splitter_clashes_with_apis(tmp_path):
    spec = write(tmp_path, APIS + """
    - name: v1
      kind: TrafficSplitter
      networking: {endpoint: /v2}
      apis:
        - {name: v1, weight: 100}
    - name: other
      kind: TrafficSplitter
      apis:
        - {name: v1, weight: 100}
        - {name: v1x, weight: 0}
    """)
    message = error_of(spec)
    assert f"{spec}:6: api 'v1': name: 'v1' is already the name of an api" in message
    assert f"{spec}:8: api 'v1': networking.endpoint: '/v2' is already used by 'v2'" in message
    assert f"{spec}:15: api 'other': apis.1.name: no RealtimeAPI named 'v1x'" in message


def test_a_splitter_cannot_name_a_splitter(tmp_path):
    spec = write(tmp_path, APIS + """
    - name: a
      kind: TrafficSplitter
      apis: [{name: v1, weight: 100}]
    - name: b
      kind: TrafficSplitter
      apis: [{name: a, weight: 100}]
    """)
    assert "apis.0.name: 'a' is a TrafficSplitter; a splitter sends traffic to RealtimeAPIs only" in error_of(spec)


def test_a_shadow_may_carry_a_weight_as_cortex_wrote_it_and_it_is_ignored(tmp_path, caplog):
    # Cortex's own traffic-splitter example: a weight on every entry, the shadow's outside the sum.
    spec = write(tmp_path, APIS + """
    - name: canary
      kind: TrafficSplitter
      apis:
        - {name: v1, weight: 100}
        - {name: v2, shadow: true, weight: 100}
    """)
    with caplog.at_level(logging.INFO, logger="mlserve.spec"):
        (splitter,) = load_project(spec).splitters
    assert [(a.name, a.weight) for a in splitter.primaries] == [("v1", 100)]
    assert splitter.shadow.name == "v2" and splitter.shadow.weight == 0
    assert ("traffic splitter 'canary': the weight (100) of shadow api 'v2' is ignored: a shadow gets a copy "
            "of every request") in caplog.text


def test_an_unknown_kind_names_the_kinds_there_are(tmp_path):
    spec = write(tmp_path, "- name: x\n  kind: RealtimeApi\n  predictor: {path: p.py}\n")
    message = error_of(spec)
    assert message.startswith(f"{spec}:2: api 'x': kind: 'RealtimeApi' is not a kind")
    assert "did you mean 'RealtimeAPI'?" in message


def test_a_kind_that_is_not_a_string_is_an_error_not_a_crash(tmp_path):
    spec = write(tmp_path, "- name: x\n  kind: [TrafficSplitter]\n  predictor: {path: p.py}\n")
    assert "kind: ['TrafficSplitter'] is not a kind" in error_of(spec)
