"""The local backend when things go wrong: broken predictors, killed CLIs and supervisors,
interrupted deploys, concurrent deploys. Real processes throughout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest
from local_harness import alive, edit_spec, pids, processes_mentioning, project_copy, wait_for

from mlserve import kinds
from mlserve.deploy.local import lifecycle
from mlserve.deploy.local.backend import LocalBackend
from mlserve.deploy.local.lock import project_lock
from mlserve.deploy.local.procs import supervisors_of
from mlserve.deploy.local.state import APIRecord
from mlserve.errors import DeployError, StateError
from mlserve.spec import load_project

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def folder(tmp_path):
    with project_copy(tmp_path / "project") as project:
        yield project


def backend_for(folder, **options) -> LocalBackend:
    return LocalBackend.for_project(folder, grace=5, **options)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlserve.cli", *args]


def one_supervisor_each(backend: LocalBackend, apis: list[str]) -> None:
    for api in apis:
        found = supervisors_of(backend.state.path).get(api, [])
        assert [pid for pid, _ in found] == [pids(backend, api)["supervisor"]], api


def test_a_failing_init_fails_deploy_with_the_users_traceback(folder):
    backend = backend_for(folder)
    with pytest.raises(DeployError) as caught:
        backend.deploy(load_project(folder / "broken.yaml"), lambda _: None)
    message = str(caught.value)
    assert "api 'broken' is not ready" in message and "__init__ failed" in message
    assert "in load_weights" in message
    assert "FileNotFoundError: weights not found at /nowhere/model.bin" in message
    assert "api 'echo'" not in message  # the good API started
    assert caught.value.hint and "mlserve logs broken" in caught.value.hint
    assert backend.status("echo")[0].status == "live"
    # The supervisor keeps retrying with backoff; after a few failures it says so.
    status = wait_for(lambda: next((s for s in backend.status("broken", detail=True)
                                    if s.status == "error (crash loop)"), None),
                      timeout=60, what="a crash loop")
    assert status.processes[1]["restarts"] >= 3 and status.processes[1]["last_exit_code"] == 3
    # Deploying again without a fix reports the crash loop rather than claiming success.
    with pytest.raises(DeployError, match="api 'broken' is not ready"):
        backend.deploy(load_project(folder / "broken.yaml"), lambda _: None)


def test_deploy_killed_while_waiting_is_finished_by_the_next_deploy(folder):
    spec = folder / "slow.yaml"
    first = subprocess.Popen(cli("deploy", str(spec)), cwd=folder, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    backend = backend_for(folder)
    status_files = [backend.state.status_file(api) for api in ("slow-a", "slow-b")]
    wait_for(lambda: all(f.exists() for f in status_files), what="both supervisors to start")
    first.kill()  # SIGKILL: no cleanup of any kind
    first.wait()
    assert first.returncode == -signal.SIGKILL

    results = backend.deploy(load_project(spec), lambda _: None)
    assert {r.api: r.action for r in results} == {"slow-a": "unchanged", "slow-b": "unchanged"}
    assert [s.status for s in backend.status()] == ["live", "live"]
    one_supervisor_each(backend, ["slow-a", "slow-b"])


def test_an_interrupted_intent_and_an_unrecorded_supervisor_converge(folder):
    """What a CLI killed between recording intent and recording the supervisor leaves behind."""
    backend = backend_for(folder)
    project = load_project(folder / "cortex.yaml")
    backend.deploy(project, lambda _: None)
    records = backend.state.load()
    records["echo"].phase = "starting"  # killed right after writing its intent
    backend.state.save(records)
    # A second supervisor for greet that no record knows about (killed right after launching it).
    stray = APIRecord(**{**records["greet"].__dict__})
    lifecycle.launch(backend.state, stray, kinds.local_command, 5)
    # Until the child has exec'd, its command line is still pytest's: look until it shows.
    deadline = time.monotonic() + 30
    while len(supervisors_of(backend.state.path)["greet"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(supervisors_of(backend.state.path)["greet"]) == 2

    results = backend.deploy(project, lambda _: None)
    assert {r.api: r.action for r in results} == {"greet": "updated", "echo": "updated"}
    assert [s.status for s in backend.status()] == ["live", "live"]
    one_supervisor_each(backend, ["greet", "echo"])
    assert not alive(stray.supervisor_pid)


def test_a_lost_state_file_is_rebuilt_and_unknown_supervisors_stopped(folder):
    backend = backend_for(folder)
    backend.deploy(load_project(folder / "cortex.yaml"), lambda _: None)
    old = {api: pids(backend, api) for api in ("greet", "echo")}
    backend.state.state_file.unlink()
    edit_spec(folder / "cortex.yaml", lambda apis: apis.pop(1))  # echo is no longer wanted

    results = backend.deploy(load_project(folder / "cortex.yaml"), lambda _: None)
    assert {r.api: r.action for r in results} == {"greet": "created"}
    assert not any(alive(pid) for api in old.values() for pid in api.values())
    assert list(supervisors_of(backend.state.path)) == ["greet"]
    one_supervisor_each(backend, ["greet"])


def test_a_killed_multiprocess_runtime_takes_its_workers_along_and_comes_back(folder):
    backend = backend_for(folder)
    backend.deploy(load_project(folder / "multi.yaml"), lambda _: None)
    runtime = pids(backend, "multi")["runtime"]
    workers = psutil.Process(runtime).children()
    assert len(workers) >= 2
    os.kill(runtime, signal.SIGKILL)
    # The orphaned workers would keep the port (and the log pipe); the supervisor kills them.
    wait_for(lambda: not any(alive(w.pid) for w in workers), what="the old workers to go")
    # "live" from before the kill may still be on file until the supervisor notices: wait for a new runtime.
    wait_for(lambda: (pids(backend, "multi")["runtime"] not in (None, runtime)
                      and backend.status("multi")[0].status == "live"), timeout=60, what="multi to come back")
    answer = httpx.post(backend.endpoint("multi"), json={}, timeout=30)
    assert answer.json() == {"tag": "workers", "payload": {}}


def test_a_killed_supervisor_is_reported_and_its_orphan_runtime_replaced(folder):
    backend = backend_for(folder)
    project = load_project(folder / "cortex.yaml")
    backend.deploy(project, lambda _: None)
    before = pids(backend, "greet")
    os.kill(before["supervisor"], signal.SIGKILL)
    wait_for(lambda: not alive(before["supervisor"]), what="the supervisor to die")
    status = backend.status("greet", detail=True)[0]
    assert status.status == "degraded: supervisor lost"
    assert any("supervisor" in e and "output is lost" in e for e in status.recent_errors)
    assert alive(before["runtime"])  # an orphan, still holding the port
    # It still answers, but what it prints reaches no log.
    lost = httpx.post(backend.endpoint("greet"), json={"name": "Al"}, timeout=30)
    assert lost.status_code == 200
    time.sleep(1)
    assert lost.headers["x-request-id"] not in backend.state.log_file("greet").read_text()

    results = backend.deploy(project, lambda _: None)
    assert {r.api: r.action for r in results}["greet"] == "updated"
    assert not alive(before["runtime"])
    assert backend.status("greet")[0].status == "live"
    # The replacement's output reaches the log again: the access log line of a new request.
    answer = httpx.post(backend.endpoint("greet"), json={"name": "Ed"}, timeout=30)
    assert answer.status_code == 200
    request_id = answer.headers["x-request-id"]
    wait_for(lambda: request_id in backend.state.log_file("greet").read_text(),
             what="the new runtime's access log line in the API's log")


def test_concurrent_deploys_take_turns(folder):
    spec = str(folder / "slow.yaml")
    runs = [subprocess.Popen(cli("deploy", spec), cwd=folder, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    stdout = sorted((out for out, _ in outputs), key=lambda out: "created" not in out)
    # One of them created both APIs; the other waited for the lock and found nothing to do.
    assert stdout[0].count("created") == 2 and "unchanged" not in stdout[0]
    assert stdout[1].count("unchanged") == 2 and "created" not in stdout[1]
    assert any("waiting for another mlserve command" in err for _, err in outputs)
    backend = backend_for(folder)
    assert sorted(backend.state.load()) == ["slow-a", "slow-b"]
    one_supervisor_each(backend, ["slow-a", "slow-b"])


def test_a_held_lock_times_out_with_a_clear_error(folder):
    backend = backend_for(folder, lock_timeout=0.5)
    messages: list[str] = []
    with project_lock(backend.state.lock_file, 1, lambda _: None):
        started = time.monotonic()
        with pytest.raises(StateError, match=rf"another mlserve command \(pid {os.getpid()}\)"):
            backend.deploy(load_project(folder / "cortex.yaml"), messages.append)
        assert time.monotonic() - started < 30
    assert any("waiting for another mlserve command" in m for m in messages)
    assert backend.state.load() == {}
    assert processes_mentioning(folder) == []
