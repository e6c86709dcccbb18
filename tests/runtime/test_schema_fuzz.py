"""Schema fuzzing (schemathesis) against the example text-stats API served by the real runtime:
no answer is a 5xx, and every error answer is JSON in mlserve's error shape."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from runtime_harness import REPO, Runtime
from schemathesis.generation import GenerationMode

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def text_stats(tmp_path_factory):
    runtime = Runtime(REPO / "cortex.yaml", "text-stats", logs=tmp_path_factory.mktemp("fuzz"))
    try:
        runtime.wait()
        yield runtime.url
    finally:
        runtime.stop()


def check(case) -> None:
    response = case.call(timeout=30)
    assert response.status_code < 500, (case.as_curl_command(), response.text)
    if response.status_code >= 400:
        headers = {name.lower(): values[-1] for name, values in response.headers.items()}  # lists of values
        assert headers["content-type"] == "application/json", case.as_curl_command()
        body = response.json()
        assert set(body) == {"error", "request_id", "hint"}, (case.as_curl_command(), body)
        assert body["request_id"] == headers["x-request-id"]


def test_no_5xx_and_errors_in_the_shape(text_stats):
    # Hypothesis-driven per operation (schemathesis's pytest fixture loader does not run on this pytest).
    schema = schemathesis.openapi.from_url(f"{text_stats}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /text-stats", "GET /healthz", "GET /metrics"}
    for operation in operations:
        for mode in GenerationMode:  # schema-conforming and schema-violating requests
            fuzz = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck),
                            database=None)(given(case=operation.as_strategy(generation_mode=mode))(check))
            try:
                fuzz()
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE  # a GET without parameters has nothing to violate
