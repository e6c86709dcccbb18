"""What runs is what was deployed: crash restarts and refresh run the deployed snapshot, never an
undeployed edit; autoscaling-only changes update in place; `.mlserve/` is private. Real processes."""

from __future__ import annotations

import os
import signal
import stat
import threading

import httpx
import pytest
from local_harness import alive, cleanup, edit_spec, pids, wait_for

from mlserve.deploy.local.backend import LocalBackend
from mlserve.spec import load_project

pytestmark = pytest.mark.timeout(240)

PREDICTOR = '''\
import helpers


class Version:
    def __init__(self, config):
        self.version = config["version"]

    def predict(self, payload):
        return {"version": self.version, "code": helpers.CODE}
'''
SPEC = """\
- name: version
  predictor:
    path: predictors/version.py
    config: {version: deployed}
  autoscaling: {max_replicas: 4}
"""


@pytest.fixture
def folder(tmp_path):
    project = tmp_path / "project"
    (project / "predictors").mkdir(parents=True)
    (project / "predictors" / "version.py").write_text(PREDICTOR)
    (project / "helpers.py").write_text('CODE = "deployed"\n')  # imported from the project root
    (project / "cortex.yaml").write_text(SPEC)
    yield project
    assert cleanup(project) == [], "processes were left behind after delete"


def deploy(folder, backend) -> dict[str, str]:
    return {r.api: r.action for r in backend.deploy(load_project(folder / "cortex.yaml"), lambda _: None)}


def answer(backend) -> dict:
    return httpx.post(backend.endpoint("version"), json={}, timeout=30).json()


def crash_runtime(backend) -> None:
    """kill -9 the runtime and wait until its supervisor has a new one serving."""
    before = pids(backend, "version")
    os.kill(before["runtime"], signal.SIGKILL)
    wait_for(lambda: not alive(before["runtime"]), what="the runtime to die")
    wait_for(lambda: (pids(backend, "version")["runtime"] not in (None, before["runtime"])
                      and backend.status("version")[0].status == "live"), timeout=120,
             what="the supervisor to restart the runtime")
    assert pids(backend, "version")["supervisor"] == before["supervisor"]


DEPLOYED = {"version": "deployed", "code": "deployed"}


def test_restarts_and_refresh_run_what_was_deployed_not_undeployed_edits(folder):
    backend = LocalBackend.for_project(folder, grace=5)
    assert deploy(folder, backend) == {"version": "created"}
    assert answer(backend) == DEPLOYED

    # An undeployed edit of cortex.yaml: a crash restart and a refresh still serve what was deployed.
    edit_spec(folder / "cortex.yaml", lambda apis: apis[0]["predictor"]["config"].update(version="EDITED"))
    crash_runtime(backend)
    assert answer(backend) == DEPLOYED
    assert backend.status("version", detail=True)[0].spec["predictor"]["config"] == {"version": "deployed"}
    backend.refresh("version", lambda _: None)
    assert answer(backend) == DEPLOYED

    # Restoring the file and deploying: nothing to do, and what runs is right.
    (folder / "cortex.yaml").write_text(SPEC)
    assert deploy(folder, backend) == {"version": "unchanged"}
    assert answer(backend) == DEPLOYED

    # The same for an undeployed edit of the predictor's code (a module it imports).
    (folder / "helpers.py").write_text('CODE = "EDITED"\n')
    crash_runtime(backend)
    assert answer(backend) == DEPLOYED
    backend.refresh("version", lambda _: None)
    assert answer(backend) == DEPLOYED
    # Deploying it is what changes it, and deploying the restored file changes it back.
    assert deploy(folder, backend) == {"version": "updated"}
    assert answer(backend) == {"version": "deployed", "code": "EDITED"}
    (folder / "helpers.py").write_text('CODE = "deployed"\n')
    assert deploy(folder, backend) == {"version": "updated"}
    assert answer(backend) == DEPLOYED

    # A broken undeployed edit and a crash: the deployed version comes back, no crash loop.
    (folder / "predictors" / "version.py").write_text("raise RuntimeError('half-written edit')\n")
    crash_runtime(backend)
    assert answer(backend) == DEPLOYED
    status = backend.status("version", detail=True)[0]
    assert status.status == "live" and not any("crash loop" in e for e in status.recent_errors)

    # Only the snapshot that runs is kept.
    snapshots = backend.state.path / "snapshots" / "version"
    assert [p.name for p in snapshots.iterdir()] == [backend.state.load()["version"].runtime_hash]


def test_a_snapshot_tampered_with_is_replaced_by_the_next_deploy(folder):
    backend = LocalBackend.for_project(folder, grace=5)
    deploy(folder, backend)
    copied = next((backend.state.path / "snapshots" / "version").glob("*/helpers.py"))
    copied.write_text('CODE = "tampered"\n')
    assert deploy(folder, backend) == {"version": "updated"}  # compared with what runs, not the record
    assert answer(backend) == DEPLOYED


def test_an_autoscaling_only_change_updates_in_place_without_refusing_a_request(folder):
    backend = LocalBackend.for_project(folder, grace=5)
    deploy(folder, backend)
    before = pids(backend, "version")
    url = backend.endpoint("version")
    outcomes: list[object] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                try:
                    outcomes.append(client.post(url, json={}).status_code)
                except httpx.HTTPError as e:
                    outcomes.append(repr(e))

    loop = threading.Thread(target=load)
    loop.start()
    try:
        wait_for(lambda: len(outcomes) >= 20, what="the request loop to run")
        edit_spec(folder / "cortex.yaml", lambda apis: apis[0].update(
            autoscaling={"max_replicas": 9, "min_replicas": 2}, update_strategy={"max_surge": 2}))
        assert deploy(folder, backend) == {"version": "updated"}
        seen = len(outcomes)
        wait_for(lambda: len(outcomes) >= seen + 20, what="requests after the deploy")
    finally:
        stop.set()
        loop.join()
    assert set(outcomes) == {200}, [o for o in outcomes if o != 200][:5]
    assert pids(backend, "version") == before
    assert backend.status("version", detail=True)[0].spec["autoscaling"]["max_replicas"] == 9
    assert deploy(folder, backend) == {"version": "unchanged"}
    # A field the runtime reads does restart it.
    edit_spec(folder / "cortex.yaml", lambda apis: apis[0]["autoscaling"].update(max_replica_concurrency=8))
    assert deploy(folder, backend) == {"version": "updated"}
    assert pids(backend, "version")["runtime"] != before["runtime"]


def test_everything_under_dot_mlserve_is_private(folder):
    # A folder left by an older version with the usual 0755/0644 modes is tightened too.
    (folder / ".mlserve" / "logs").mkdir(parents=True)
    (folder / ".mlserve" / "logs" / "version.log").write_text("old\n")
    os.chmod(folder / ".mlserve", 0o755)
    os.chmod(folder / ".mlserve" / "logs" / "version.log", 0o644)
    backend = LocalBackend.for_project(folder, grace=5)
    deploy(folder, backend)
    answer(backend)
    found = [folder / ".mlserve", *(folder / ".mlserve").rglob("*")]
    assert any(p.name == "version.log" for p in found) and any(p.name == "helpers.py" for p in found)
    modes = {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in found}
    assert {k: oct(v) for k, v in modes.items() if v != (0o700 if (folder / k).is_dir() else 0o600)} == {}
