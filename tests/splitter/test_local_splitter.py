"""Traffic splitters deployed by the local backend: real supervisors, runtimes and splitter processes."""

from __future__ import annotations

import os
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mlserve.deploy.local.backend import LocalBackend
from tests.cli.cli_harness import invoke
from tests.deploy.local_harness import cleanup, pids, wait_for
from tests.splitter.harness import SteadyLoad, api, copy_project, deploy, post, set_entries, splitter


@pytest.fixture
def project(tmp_path):
    spec = copy_project(tmp_path / "proj")
    # Ports away from the default range, which other projects' tests on this machine allocate from:
    # a killed API's port taken by someone else in the restart gap would answer for it.
    backend = LocalBackend.for_project(spec, grace=5, ready_timeout=180, port_range=(21300, 21700))
    yield spec, backend
    assert cleanup(spec.parent) == []


def url_of(backend: LocalBackend, name: str) -> str:
    return backend.endpoint(name)


def test_2000_requests_follow_90_10_weights(project):
    spec, backend = project
    results = {r.api: r.action for r in deploy(backend, spec)}
    assert results == {"v1": "created", "v2": "created", "canary": "created"}
    url = url_of(backend, "canary")
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: post(client, url, {"i": i}), range(2000)))
    assert {a.status for a in answers} == {200}
    assert all(a.api == a.body["version"] for a in answers)  # the header names who answered
    counts = Counter(a.api for a in answers)
    assert abs(counts["v1"] / 2000 - 0.90) <= 0.03 and abs(counts["v2"] / 2000 - 0.10) <= 0.03, counts
    # `mlserve get` shows the same split, read back from the splitter's metrics.
    (status,) = backend.status("canary")
    assert status.kind == "TrafficSplitter" and status.responses_2xx == 2000
    assert [(b["api"], b["weight"], b["requests"]) for b in status.backends] == [
        ("v1", 90, counts["v1"]), ("v2", 10, counts["v2"])]


def test_request_reaches_the_api_whole(project):
    spec, backend = project
    set_entries(spec, [api("v1"), splitter("canary", ("v1", 100))])
    deploy(backend, spec)
    with httpx.Client(timeout=30) as client:
        r = client.post(url_of(backend, "canary") + "?lang=de&lang=fr&q=a%26b%20c", json={"text": "hi"},
                        headers={"X-Request-ID": "req-42", "X-Session-ID": "s-7"})
        missing = client.post(url_of(backend, "canary").rsplit("/", 1)[0] + "/elsewhere", json={})
    assert r.status_code == 200 and r.headers["x-request-id"] == "req-42" and r.headers["x-mlserve-api"] == "v1"
    assert r.json() == {"version": "v1", "payload": {"text": "hi"}, "query": {"lang": "fr", "q": "a&b c"}, "session": "s-7"}
    assert missing.status_code == 404 and set(missing.json()) == {"error", "request_id", "hint"}
    # The CLI treats the splitter like an API.
    predicted = invoke("predict", "canary", "-", "--spec", str(spec), input='{"text": "cli"}')
    assert predicted.exit_code == 0 and '"version": "v1"' in predicted.output
    listed = invoke("get", "--spec", str(spec))
    assert listed.exit_code == 0 and "traffic splitters" in listed.output and "v1: 100% (2)" in listed.output
    # `refresh` restarts a splitter like an API (it has no snapshot: it reads only its routing table).
    before = pids(backend, "canary")["supervisor"]
    refreshed = invoke("refresh", "canary", "--spec", str(spec))
    assert refreshed.exit_code == 0, refreshed.output
    assert pids(backend, "canary")["supervisor"] != before
    assert post(httpx.Client(timeout=30), url_of(backend, "canary"), {"i": 0}).api == "v1"


def test_shadow_sees_every_request_clients_see_only_the_primary(project, tmp_path):
    spec, backend = project
    shadow_log = tmp_path / "shadow.log"
    set_entries(spec, [api("v1"), api("v3", log=str(shadow_log)), splitter("canary", ("v1", 100), ("v3", None))])
    deploy(backend, spec)
    url = url_of(backend, "canary")
    with httpx.Client(timeout=30) as client:
        answers = [post(client, url, headers={"X-Request-ID": f"r{i}"}) for i in range(100)]
    assert {(a.status, a.api, a.body["version"]) for a in answers} == {(200, "v1", "v1")}
    seen = wait_for(lambda: (lines := shadow_log.read_text().split()) and len(lines) >= 200 and lines,
                    timeout=60, what="the shadow api to get every request")
    assert sorted(seen[::2]) == sorted(f"r{i}" for i in range(100))  # same request ids, each once
    def counted() -> list[tuple]:
        return [(b["api"], b["shadow"], b["requests"]) for b in backend.status("canary")[0].backends]
    # The splitter counts a shadow copy when its answer arrives, after the shadow api logged it.
    wait_for(lambda: counted()[-1][2] >= 100, what="the splitter to count every shadow answer")
    assert counted() == [("v1", False, 100), ("v3", True, 100)]


def test_weight_change_by_redeploy_loses_no_request(project):
    spec, backend = project
    deploy(backend, spec)
    before = {name: pids(backend, name) for name in ("v1", "v2", "canary")}
    url = url_of(backend, "canary")
    with SteadyLoad(url) as load:
        wait_for(lambda: len(load.answers) > 50, timeout=60, what="traffic")
        set_entries(spec, [api("v1"), api("v2"), splitter("canary", ("v1", 0), ("v2", 100))])
        results = {r.api: r.action for r in deploy(backend, spec)}
        mark = len(load.answers)
        wait_for(lambda: len(load.answers) > mark + 50, timeout=60, what="traffic after the deploy")
    assert results == {"v1": "unchanged", "v2": "unchanged", "canary": "updated"}
    assert load.errors == [] and {a.status for a in load.answers} == {200}
    assert {a.api for a in load.answers[mark + 8:]} == {"v2"}  # (a few were in flight at the switch)
    assert {name: pids(backend, name) for name in before} == before  # nothing restarted


def test_sse_passes_through_event_by_event(project, tmp_path):
    spec, backend = project
    deploy(backend, spec)
    read = tmp_path / "read"  # the API sends event i+1 once the file read.i exists: once we have event i
    events = []
    with httpx.Client(timeout=60) as client:
        with client.stream("POST", url_of(backend, "canary"), params={"stream": 4, "gate": str(read)}, json={},
                           headers={"accept": "text/event-stream"}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("data: v"):
                    events.append(line.split(" ", 2)[2])
                    read.with_name(f"read.{len(events) - 1}").touch()
    # Buffered, event 0 would reach us only after the API gave up waiting for us to read it.
    assert events == ["0", "1", "2", "3"]


def test_killed_backend_fails_only_its_share_then_recovers(project):
    spec, backend = project
    set_entries(spec, [api("v1"), api("v2"), splitter("canary", ("v1", 50), ("v2", 50))])
    deploy(backend, spec)
    url = url_of(backend, "canary")
    with SteadyLoad(url) as load:
        wait_for(lambda: len(load.answers) > 50, timeout=60, what="traffic")
        os.kill(pids(backend, "v2")["runtime"], signal.SIGKILL)
        killed_at = len(load.answers)
        # The supervisor restarts it; the splitter needs no help to use it again.
        wait_for(lambda: any(a.api == "v2" and a.status == 200 for a in load.answers[killed_at + 20:]),
                 timeout=120, what="v2 to answer again")
    failed = [a for a in load.answers if a.status != 200]
    assert load.errors == []
    assert all(a.status == 503 and a.api == "v2" and set(a.body) == {"error", "request_id", "hint"}
               for a in failed), failed[:3]
    assert sum(a.api == "v1" and a.status == 200 for a in load.answers[killed_at:]) > 0
