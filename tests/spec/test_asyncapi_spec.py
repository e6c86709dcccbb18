"""`kind: AsyncAPI` in cortex.yaml: a RealtimeAPI's fields plus `queue` and `webhook`, checked with the APIs."""

from __future__ import annotations

from mlserve.contract.kind import Kind
from mlserve.spec import AsyncAPISpec, load_project, runtime_hash, spec_hash
from tests.spec.test_loader import error_of, write


def test_an_async_api_loads_with_cortex_defaults_and_its_own(tmp_path):
    spec = write(tmp_path, """
        - name: rt
          predictor: {path: p.py}
        - name: later
          kind: AsyncAPI
          predictor: {path: p.py}
          queue: {result_ttl: 2h, visibility_timeout: 45s, workers: 2}
          webhook: {url: "http://127.0.0.1:9/done", backoff: 250ms}
        """)
    project = load_project(spec)
    assert [a.name for a in project.apis] == ["rt"] and [a.name for a in project.async_apis] == ["later"]
    api = project.api("later")
    assert isinstance(api, AsyncAPISpec) and api.kind == Kind.ASYNC_API and api.endpoint == "/later"
    assert (api.queue.result_ttl, api.queue.visibility_timeout, api.queue.workers) == (7200, 45, 2)
    assert (api.queue.max_attempts, api.queue.partial_interval) == (3, None)
    assert api.webhook.backoff == 0.25 and api.webhook.retries == 3
    assert api.autoscaling.max_replica_concurrency == 1024  # the RealtimeAPI's models, reused


def test_an_async_api_may_scale_its_workers_to_zero(tmp_path):
    # Its queue is read without replicas, so a waiting item wakes a worker (a RealtimeAPI cannot: test_loader.py).
    spec = write(tmp_path, """
        - name: later
          kind: AsyncAPI
          predictor: {path: p.py}
          autoscaling: {min_replicas: 0}
        """)
    scaling = load_project(spec).api("later").autoscaling
    assert (scaling.min_replicas, scaling.init_replicas) == (0, 0)


def test_queue_settings_are_read_by_the_process_so_they_change_the_runtime_hash(tmp_path):
    text = """
        - name: later
          kind: AsyncAPI
          predictor: {path: p.py}
          queue: {max_attempts: %d}
        """
    first = load_project(write(tmp_path, text % 3)).api("later")
    second = load_project(write(tmp_path, text % 5)).api("later")
    assert runtime_hash(first, tmp_path) != runtime_hash(second, tmp_path)
    assert spec_hash(first) != spec_hash(second)


def test_a_bad_async_field_is_reported_at_its_line(tmp_path):
    spec = write(tmp_path, """
        - name: later
          kind: AsyncAPI
          predictor: {path: p.py}
          queue:
            max_attempts: 0
        """)
    message = error_of(spec)
    assert message.startswith(f"{spec}:5: api 'later': queue.max_attempts:")
    spec = write(tmp_path, """
        - name: later
          kind: AsyncAPI
          predictor: {path: p.py}
          webhook: {url: "ftp://x"}
        """)
    assert "webhook.url" in error_of(spec) and "http://" in error_of(spec)


def test_an_async_api_shares_names_endpoints_and_predictor_checks_with_the_apis(tmp_path):
    spec = write(tmp_path, """
        - name: same
          predictor: {path: p.py}
        - name: same
          kind: AsyncAPI
          predictor: {path: p.py}
        """)
    assert f"{spec}:3: api 'same': name: duplicate api name" in error_of(spec)
    spec = write(tmp_path, """
        - name: one
          predictor: {path: p.py}
          networking: {endpoint: /x}
        - name: two
          kind: AsyncAPI
          predictor: {path: missing.py}
          networking: {endpoint: /x}
        """)
    message = error_of(spec)
    assert f"{spec}:7: api 'two': networking.endpoint: '/x' is already used by api 'one'" in message
    assert f"{spec}:6: api 'two': predictor.path: 'missing.py' does not exist" in message
