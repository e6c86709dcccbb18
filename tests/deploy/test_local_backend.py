"""The local backend with real supervisors and runtimes: deploy, reconcile, status, restart, delete.

One project is deployed once for the module; each test edits it and checks what changed relative
to what ran before, so the tests do not depend on their order.
"""

from __future__ import annotations

import os
import signal
import socket

import httpx
import pytest
from local_harness import alive, edit_spec, pids, project_copy, wait_for
from loopback import free_port

from mlserve.deploy.local.backend import LocalBackend
from mlserve.deploy.local.ports import port_is_free
from mlserve.errors import DeployError, NotDeployed
from mlserve.spec import load_project

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    with project_copy(tmp_path_factory.mktemp("local") / "project") as folder:
        backend = LocalBackend.for_project(folder, grace=5)
        backend.deploy(load_project(folder / "cortex.yaml"), lambda _: None)
        yield folder, backend


def deploy(folder, backend, **kwargs):
    messages: list[str] = []
    results = backend.deploy(load_project(folder / "cortex.yaml"), messages.append, **kwargs)
    return {r.api: r.action for r in results}, messages


def post(backend, api, payload):
    return httpx.post(backend.endpoint(api), json=payload, timeout=30)


def test_each_api_answers_on_its_own_loopback_port(project):
    _, backend = project
    assert post(backend, "greet", {"name": "Ada"}).json() == {"message": "hello, Ada!"}
    assert post(backend, "echo", {"x": 1}).json() == {"tag": "first", "payload": {"x": 1}}
    greet, echo = backend.endpoint("greet"), backend.endpoint("echo")
    assert greet.startswith("http://127.0.0.1:") and greet.endswith("/greet")
    assert greet.rsplit(":", 1)[1] != echo.rsplit(":", 1)[1]


def test_status_counts_requests_by_class_and_estimates_latency(project):
    _, backend = project
    before = backend.status("echo")[0]
    assert post(backend, "echo", {"ok": 1}).status_code == 200
    assert post(backend, "echo", {"fail": True}).status_code == 500
    bad = httpx.post(backend.endpoint("echo"), content=b"{not json", timeout=30,
                     headers={"content-type": "application/json"})
    assert bad.status_code == 400
    after = backend.status("echo")[0]
    assert after.status == "live" and after.replicas == "1/1"
    assert after.requests - before.requests == 3
    assert (after.responses_2xx - before.responses_2xx, after.responses_4xx - before.responses_4xx,
            after.responses_5xx - before.responses_5xx) == (1, 1, 1)
    assert after.p50_ms is not None and after.p99_ms is not None and 0 < after.p50_ms <= after.p99_ms


def test_redeploy_without_changes_leaves_every_process_alone(project):
    folder, backend = project
    before = {api: pids(backend, api) for api in ("greet", "echo")}
    actions, _ = deploy(folder, backend)
    assert actions == {"greet": "unchanged", "echo": "unchanged"}
    assert {api: pids(backend, api) for api in ("greet", "echo")} == before


def test_changing_one_apis_config_restarts_only_that_api_on_the_same_port(project):
    folder, backend = project
    greet_before, echo_before = pids(backend, "greet"), pids(backend, "echo")
    endpoint_before = backend.endpoint("echo")
    edit_spec(folder / "cortex.yaml", lambda apis: apis[1]["predictor"]["config"].update(tag="second"))
    actions, _ = deploy(folder, backend)
    assert actions == {"greet": "unchanged", "echo": "updated"}
    assert pids(backend, "greet") == greet_before
    echo_after = pids(backend, "echo")
    assert echo_after["supervisor"] != echo_before["supervisor"]
    assert echo_after["runtime"] != echo_before["runtime"]
    assert not alive(echo_before["runtime"]) and not alive(echo_before["supervisor"])
    assert backend.endpoint("echo") == endpoint_before
    assert post(backend, "echo", {}).json()["tag"] == "second"


def test_editing_predictor_code_restarts_the_api_that_uses_it(project):
    folder, backend = project
    echo_before, greet_before = pids(backend, "echo"), pids(backend, "greet")
    code = folder / "predictors" / "greet.py"
    code.write_text(code.read_text().replace('f"{self.greeting}, ', 'f"{self.greeting} there, '))
    actions, _ = deploy(folder, backend)
    assert actions == {"greet": "updated", "echo": "unchanged"}
    assert pids(backend, "echo") == echo_before
    assert pids(backend, "greet")["runtime"] != greet_before["runtime"]
    assert post(backend, "greet", {"name": "Bo"}).json() == {"message": "hello there, Bo!"}


def test_removing_an_api_stops_its_processes_and_readding_starts_it(project):
    folder, backend = project
    removed = pids(backend, "echo")
    spec = folder / "cortex.yaml"
    original = spec.read_text()
    edit_spec(spec, lambda apis: apis.pop(1))
    actions, _ = deploy(folder, backend)
    assert actions == {"greet": "unchanged", "echo": "deleted"}
    assert not alive(removed["supervisor"]) and not alive(removed["runtime"])
    assert [s.api for s in backend.status()] == ["greet"]
    with pytest.raises(NotDeployed, match="api 'echo' is not deployed"):
        backend.endpoint("echo")
    spec.write_text(original)
    actions, _ = deploy(folder, backend)
    assert actions == {"greet": "unchanged", "echo": "created"}
    assert post(backend, "echo", {}).status_code == 200


def test_a_killed_runtime_is_restarted_by_its_supervisor(project):
    _, backend = project
    before = pids(backend, "greet")
    os.kill(before["runtime"], signal.SIGKILL)
    seen: list[str] = []

    def back():
        status = backend.status("greet", detail=True)[0]
        seen.append(status.status)
        return status if (status.status == "live" and status.processes[1]["restarts"] == 1
                          and status.processes[1]["pid"] != before["runtime"]) else None

    status = wait_for(back, what="greet to come back")
    # Between the crash and live, `get` says a restart is coming, never "error" (one crash is no crash loop).
    assert "restarting" in seen and not any(s.startswith("error") for s in seen), seen
    assert status.processes[0]["pid"] == before["supervisor"]
    assert status.processes[1]["last_exit_code"] == -signal.SIGKILL
    assert any("killed by SIGKILL" in e for e in status.recent_errors)
    assert post(backend, "greet", {"name": "Cy"}).status_code == 200


def test_refresh_restarts_an_api_in_place(project):
    _, backend = project
    before, endpoint = pids(backend, "echo"), backend.endpoint("echo")
    result = backend.refresh("echo", lambda _: None)
    assert (result.api, result.action, result.endpoint) == ("echo", "updated", endpoint)
    assert pids(backend, "echo")["runtime"] != before["runtime"]
    assert post(backend, "echo", {}).status_code == 200


def test_force_restarts_unchanged_apis(project):
    folder, backend = project
    before = pids(backend, "greet")
    actions, _ = deploy(folder, backend, force=True)
    assert actions == {"greet": "updated", "echo": "updated"}
    assert pids(backend, "greet")["runtime"] != before["runtime"]


def test_logs_and_detail_show_the_apis_output(project):
    _, backend = project
    post(backend, "greet", {"name": "Di"})
    lines = list(backend.logs("greet", tail=50))
    assert any('"POST /greet" 200' in line for line in lines)
    assert any("runtime is ready" in line for line in lines)
    detail = backend.status("greet", detail=True)[0]
    assert detail.spec["predictor"]["config"] == {"greeting": "hello"}
    assert detail.log_tail and len(detail.log_tail) <= 20
    with pytest.raises(NotDeployed):
        backend.logs("nope")


def test_a_pinned_port_is_used_and_a_busy_one_is_refused(project, tmp_path):
    folder, backend = project
    free = free_port()
    assert port_is_free(free)
    edit_spec(folder / "cortex.yaml", lambda apis: apis[1].setdefault("networking", {}).update(local_port=free))
    actions, _ = deploy(folder, backend)
    assert actions["echo"] == "updated"
    assert backend.endpoint("echo") == f"http://127.0.0.1:{free}/echo"
    assert post(backend, "echo", {}).status_code == 200

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        edit_spec(folder / "cortex.yaml", lambda apis: apis[1]["networking"].update(local_port=taken))
        with pytest.raises(DeployError, match=f"port {taken} .* is in use by another program"):
            deploy(folder, backend)
    edit_spec(folder / "cortex.yaml", lambda apis: apis[1].pop("networking"))
    actions, _ = deploy(folder, backend)
    assert actions["echo"] == "updated" and post(backend, "echo", {}).status_code == 200
