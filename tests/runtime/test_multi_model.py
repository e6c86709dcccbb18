"""Multi-model APIs in a real runtime process (drills): a model's files deleted under it, a corrupt
version, 50 concurrent first requests, a new version rolling in under a steady request loop; the
/models listing and the per-model metrics."""

from __future__ import annotations

import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from mlserve.runtime.multimodel import PATH as MODELS


def write_model(models: Path, name: str, version: int, value: str, **files: str) -> Path:
    """Written aside and renamed into place, as a version should be published (the watcher would
    otherwise load a half-written version, then reload it as changed)."""
    work = models / f".tmp-{name}-{version}"
    work.mkdir(parents=True)
    for file, text in {**files, "value.txt": value}.items():
        (work / file).write_text(text)
    folder = models / name / str(version)
    folder.parent.mkdir(parents=True, exist_ok=True)
    work.rename(folder)
    return folder


def ask(server, model: str, version: str = "latest", **payload) -> httpx.Response:
    return server.client.post("/t", json=payload or None, params={"model": model, "version": version})


def eventually(check, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


def assert_error_shape(response: httpx.Response, status: int, says: str) -> None:
    body = response.json()
    assert response.status_code == status, body
    assert set(body) == {"error", "request_id", "hint"} and body["hint"], body
    assert says in body["error"], body


def serve_models(start, tmp_path: Path, paths: list[dict] | None = None, **settings):
    models = tmp_path / "models"
    source = {"paths": paths} if paths else {"dir": str(models)}
    predictor = {"multi_model_reloading": {**source, "watch_interval": "100ms", **settings},
                 "config": {"count_file": str(tmp_path / "loads.jsonl")}, "threads_per_process": 4}
    return start("multi_model.py", predictor=predictor)


def loads(tmp_path: Path) -> list[dict]:
    file = tmp_path / "loads.jsonl"
    return [json.loads(line) for line in file.read_text().splitlines()] if file.exists() else []


def test_deleted_model_gets_a_clear_error_and_the_others_answer(start, tmp_path):
    models = tmp_path / "models"
    write_model(models, "iris", 1, "iris one")
    write_model(models, "wine", 1, "wine one")
    paths = [{"name": "iris", "path": str(models / "iris")}, {"name": "wine", "path": str(models / "wine")}]
    server = serve_models(start, tmp_path, paths, cache_size=2, disk_cache_size=2)
    assert ask(server, "wine").json()["value"] == "wine one"
    shutil.rmtree(models / "wine")
    response = eventually(lambda: (r := ask(server, "wine")).status_code == 404 and r)
    assert_error_shape(response, 404, "no model 'wine'")
    assert "does not exist" in response.json()["error"] and "models: iris" in response.json()["error"]
    assert ask(server, "iris").json()["value"] == "iris one"
    assert_error_shape(ask(server, "rose"), 404, "no model 'rose'")
    listed = {m["name"]: m for m in server.client.get(MODELS).json()["models"]}
    assert listed["iris"]["versions"] == [1] and listed["iris"]["in_memory"] == [1]
    assert listed["wine"]["versions"] == [] and "does not exist" in listed["wine"]["problem"]
    removed = 'mlserve_model_changes_total{api="t",change="removed"} 1.0'
    # The watcher counts a change just after publishing it: the 404 can come first.
    metrics = eventually(lambda: removed in (text := server.client.get("/metrics").text) and text)
    assert 'mlserve_model_requests_total{api="t",code="200",model="iris"}' in metrics
    assert 'mlserve_model_loads_total{api="t",model="wine",outcome="ok"} 1.0' in metrics


def test_corrupt_version_fails_alone_and_latest_stays_on_the_good_one(start, tmp_path):
    models = tmp_path / "models"
    write_model(models, "iris", 1, "good")
    server = serve_models(start, tmp_path)
    assert ask(server, "iris").json()["value"] == "good"
    write_model(models, "iris", 2, "bad", fail="")
    eventually(lambda: 2 in server.client.get(MODELS).json()["models"][0]["versions"])
    assert ask(server, "iris").json()["value"] == "good"
    assert_error_shape(ask(server, "iris", "2"), 500, "model 'iris' version 2 failed to load: ValueError")
    assert "corrupt model in 2" in server.logs()
    (models / "iris" / "2" / "fail").unlink()  # repaired in place: reloaded, and latest again
    eventually(lambda: ask(server, "iris").json()["value"] == "bad")


def test_fifty_concurrent_first_requests_make_one_load(start, tmp_path):
    models = tmp_path / "models"
    write_model(models, "big", 1, "weights", slow="0.5")
    server = serve_models(start, tmp_path, cache_size=1, disk_cache_size=1)
    server.client.close()
    with httpx.Client(base_url=server.url, timeout=30, limits=httpx.Limits(max_connections=50)) as client, \
            ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda _: client.post("/t", params={"model": "big"}), range(50)))
    assert [a.status_code for a in answers] == [200] * 50
    assert [load["path"].endswith("/big/1") for load in loads(tmp_path)] == [True]


def test_a_new_version_rolls_in_under_a_steady_loop_with_no_refusal(start, tmp_path):
    models = tmp_path / "models"
    write_model(models, "story", 1, "v1")
    server = serve_models(start, tmp_path, cache_size=2, disk_cache_size=2)
    seen: list[tuple[int, str]] = []
    stop = threading.Event()

    def loop():
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set():
                r = client.post("/t", params={"model": "story"})
                seen.append((r.status_code, r.json().get("value")))

    worker = threading.Thread(target=loop)
    worker.start()
    try:
        eventually(lambda: len(seen) > 20)
        write_model(models, "story", 2, "v2", slow="0.5")  # a slow load: requests keep the old one meanwhile
        eventually(lambda: seen and seen[-1][1] == "v2")
        switched = len(seen)
        eventually(lambda: len(seen) >= switched + 20)  # latest must not go back in these
    finally:
        stop.set()
        worker.join()
    assert {code for code, _ in seen} == {200}
    values = [value for _, value in seen]
    first_new = values.index("v2")
    assert set(values[:first_new]) == {"v1"} and set(values[first_new:]) == {"v2"}, "latest went back"
    assert len(loads(tmp_path)) == 2


def test_without_caching_every_model_is_loaded_before_the_api_is_ready(start, tmp_path):
    """Cortex's rule: no cache_size means every model stays in memory, so none is loaded by a request."""
    models = tmp_path / "models"
    write_model(models, "iris", 1, "iris one")
    write_model(models, "wine", 1, "wine one")
    write_model(models, "wine", 2, "wine two", slow="1.0")  # a load the API's readiness must wait for
    server = serve_models(start, tmp_path)  # `start` returns once /readyz answers 200
    assert sorted(Path(load["path"]).relative_to(models).as_posix() for load in loads(tmp_path)) == [
        "iris/1", "wine/1", "wine/2"]
    listed = {m["name"]: m["in_memory"] for m in server.client.get(MODELS).json()["models"]}
    assert listed == {"iris": [1], "wine": [1, 2]}
    assert ask(server, "wine").json()["value"] == "wine two"
    assert len(loads(tmp_path)) == 3
