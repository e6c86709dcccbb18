"""Schema fuzzing (schemathesis) against typed APIs served by the real runtime: the example
text-stats API and a fixture with integer and number fields. Every generated request is checked for
no 5xx, every error answer in mlserve's error shape, and schemathesis's conformance checks: status
codes, content types and response bodies as the published OpenAPI says, schema-conforming requests
accepted and schema-violating ones refused (so the runtime enforces exactly what it publishes).
The same conformance is also checked by schemathesis's own runner, whose coverage phase sends the
boundary and wrong-type values ("5" for an integer, false for a number) that random generation
rarely hits. `-s` prints the number of generated cases."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from runtime_harness import REPO, Runtime, serve_fixture
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.timeout(600)
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
               positive_data_acceptance, negative_data_rejection]


@pytest.fixture(scope="module")
def text_stats(tmp_path_factory):
    runtime = Runtime(REPO / "cortex.yaml", "text-stats", logs=tmp_path_factory.mktemp("fuzz"))
    try:
        runtime.wait()
        yield runtime.url
    finally:
        runtime.stop()


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    server = serve_fixture(tmp_path_factory.mktemp("fuzz-shop"), "typed.py", {}, {})
    server.wait()
    yield server.url
    server.stop()


def check(case) -> None:
    response = case.call(timeout=30)
    assert response.status_code < 500, (case.as_curl_command(), response.text)
    if response.status_code >= 400:
        headers = {name.lower(): values[-1] for name, values in response.headers.items()}  # lists of values
        assert headers["content-type"] == "application/json", case.as_curl_command()
        body = response.json()
        assert set(body) == {"error", "request_id", "hint"}, (case.as_curl_command(), body)
        assert body["request_id"] == headers["x-request-id"]
        assert isinstance(body["hint"], str) and body["hint"], (case.as_curl_command(), body)
    case.validate_response(response, checks=CONFORMANCE)


def fuzz(url: str, labels: set[str]) -> int:
    """Run every operation in both generation modes; returns the number of cases sent."""
    # Hypothesis-driven per operation (schemathesis's pytest fixture loader does not run on this pytest).
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= labels
    sent = 0

    def counted(case) -> None:
        nonlocal sent
        sent += 1
        check(case)

    for operation in operations:
        for mode in GenerationMode:  # schema-conforming and schema-violating requests
            run = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck),
                           database=None)(given(case=operation.as_strategy(generation_mode=mode))(counted))
            try:
                run()
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE  # a GET without parameters has nothing to violate
    print(f"\nschema fuzz of {url}: {sent} cases, 0 failures")
    return sent


def test_the_example_api_conforms_to_its_schema(text_stats):
    assert fuzz(text_stats, {"POST /text-stats", "GET /healthz", "GET /metrics"}) > 0


def test_a_typed_api_with_numbers_enforces_what_it_publishes(shop):
    assert fuzz(shop, {"POST /t"}) > 0


@pytest.mark.parametrize("api", ["text_stats", "shop"])
def test_schemathesis_finds_no_conformance_failure(api, request, tmp_path):
    url = request.getfixturevalue(api)
    run = subprocess.run([sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json", "--checks", "all",
                          "--phases", "examples,coverage,fuzzing", "--workers", "1", "--seed", "1"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=500)
    assert run.returncode == 0, run.stdout[-6000:]
    cases = re.search(r"(\d+) generated, \1 passed", run.stdout)
    assert cases, run.stdout[-2000:]
    print(f"\nschemathesis run over {url}: {cases.group(0)}")
