"""A multi-model API deployed locally: editing its models list in cortex.yaml and deploying applies to
the running process (same pids, no refused request), models are added and removed, and a model that
cannot load is reported by deploy while the others answer. Real supervisors and runtimes."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import httpx
import pytest
import yaml
from local_harness import cleanup, pids

from mlserve.deploy.local.backend import LocalBackend
from mlserve.spec import load_project

pytestmark = pytest.mark.timeout(180)
PREDICTOR = Path(__file__).resolve().parents[1] / "fixtures" / "predictors" / "multi_model.py"


def write_spec(folder: Path, paths: list[dict]) -> None:
    api = {"name": "zoo", "predictor": {"type": "python", "path": "multi_model.py", "threads_per_process": 4,
                                         "multi_model_reloading": {"paths": paths, "watch_interval": "30s"}}}
    (folder / "cortex.yaml").write_text(yaml.safe_dump([api], sort_keys=False))


def model(folder: Path, name: str, value: str) -> dict:
    (folder / "models" / name).mkdir(parents=True)
    (folder / "models" / name / "value.txt").write_text(value)
    return {"name": name, "path": f"models/{name}"}  # relative to cortex.yaml: not in the API's snapshot


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(PREDICTOR, folder / "multi_model.py")
    try:
        yield folder, LocalBackend.for_project(folder, grace=5)
    finally:
        assert cleanup(folder) == [], "processes were left behind after delete"


def deploy(folder: Path, backend: LocalBackend):
    messages: list = []
    [result] = backend.deploy(load_project(folder / "cortex.yaml"), messages.append)
    return result, [m for m in messages if isinstance(m, str)]


def ask(backend: LocalBackend, name: str) -> httpx.Response:
    return httpx.post(backend.endpoint("zoo"), params={"model": name}, timeout=30)


def test_a_model_added_to_cortex_yaml_serves_after_deploy_without_a_restart_or_a_refusal(project):
    folder, backend = project
    iris = model(folder, "iris", "iris one")
    write_spec(folder, [iris])
    result, _ = deploy(folder, backend)
    assert result.action == "created" and [m["name"] for m in result.models] == ["iris"]
    before = pids(backend, "zoo")
    codes: list[int] = []
    stop = threading.Event()

    def steady() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                codes.append(client.post(backend.endpoint("zoo"), params={"model": "iris"}).status_code)

    loop = threading.Thread(target=steady)
    loop.start()
    try:
        write_spec(folder, [iris, model(folder, "wine", "wine one")])
        result, messages = deploy(folder, backend)
        assert ask(backend, "wine").json()["value"] == "wine one"
    finally:
        stop.set()
        loop.join()
    assert result.action == "updated" and "zoo: new models list, applied without a restart" in messages
    assert {m["name"]: m["state"] for m in result.models} == {"iris": "loaded", "wine": "loaded"}  # no cache: all loaded
    assert pids(backend, "zoo") == before
    assert len(codes) > 10 and set(codes) == {200}
    listed = {m["name"]: m for m in backend.status("zoo", detail=True)[0].models}
    assert listed["wine"]["versions"] == [1] and listed["wine"]["last_used"] is not None


def test_a_removed_model_answers_404_and_a_missing_one_is_reported_while_the_others_answer(project):
    folder, backend = project
    iris, wine = model(folder, "iris", "iris one"), model(folder, "wine", "wine one")
    write_spec(folder, [iris, wine])
    deploy(folder, backend)
    assert ask(backend, "wine").json()["value"] == "wine one"
    before = pids(backend, "zoo")

    write_spec(folder, [iris, {"name": "rose", "path": "models/rose"}])
    result, _ = deploy(folder, backend)
    rows = {m["name"]: m for m in result.models}
    assert set(rows) == {"iris", "rose"} and rows["iris"]["state"] == "loaded"
    assert rows["rose"]["state"] == "failed" and "models/rose does not exist" in rows["rose"]["detail"]
    assert pids(backend, "zoo") == before
    assert ask(backend, "iris").json()["value"] == "iris one"
    gone = ask(backend, "wine")
    assert gone.status_code == 404 and set(gone.json()) == {"error", "request_id", "hint"}
    assert "no model 'wine'; models: iris" in gone.json()["error"]
