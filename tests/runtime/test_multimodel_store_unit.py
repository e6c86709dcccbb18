"""The multi-model cache in-process: memory LRU bound, single flight, no eviction of a model in use,
disk LRU over S3-style downloads, `latest` past a failed version, and the watcher's changes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mlserve.errors import ModelLoadFailed, ModelNotServed, Overloaded
from mlserve.models.repository import scan
from mlserve.runtime.multimodel.metrics import ModelMetrics
from mlserve.runtime.multimodel.store import ModelStore
from mlserve.runtime.multimodel.watcher import Watcher
from mlserve.spec.multi_model import MultiModelReloading


def write_model(root: Path, name: str, version: int, value: str, *, fail: bool = False) -> Path:
    folder = root / name / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "value.txt").write_text(value)
    if fail:
        (folder / "fail").write_text("")
    return folder


class Loads:
    """load_model's stand-in: reads value.txt, raises for a 'fail' file, counts calls, can be slowed."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[str] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, path: Path) -> str:
        with self.lock:
            self.calls.append(str(path))
        time.sleep(self.delay)
        if (Path(path) / "fail").exists():
            raise ValueError("corrupt")
        return (Path(path) / "value.txt").read_text()


def make_store(tmp_path: Path, loads: Loads, *, cache_size=None, wait: float = 5.0, **config):
    config = MultiModelReloading(dir=str(tmp_path / "models"), cache_size=cache_size,
                                 disk_cache_size=cache_size, **config)
    store = ModelStore(loads, ModelMetrics("t", CollectorRegistry()), tmp_path / "cache",
                       cache_size=cache_size, disk_cache_size=cache_size, wait=wait)
    watcher = Watcher(store, lambda: scan(config, tmp_path), config.watch_interval)
    watcher.first()
    return store, watcher


def get(store: ModelStore, model, version="latest"):
    slot = store.acquire(model, version)
    store.release(slot)
    return slot.value


def test_memory_bound_holds_and_least_recently_used_goes_first(tmp_path):
    for i in range(6):
        write_model(tmp_path / "models", f"m{i}", 1, f"v{i}")
    loads = Loads()
    store, _ = make_store(tmp_path, loads, cache_size=2)
    for name in ["m0", "m1", "m0", "m2", "m0", "m3", "m4", "m5", "m0"]:
        assert get(store, name) == f"v{name[1]}"
        assert len(store.memory) + len(store.loading) <= 2
    # m0 stayed while it was used in between; the others were loaded once each, m0 twice (after m4, m5).
    assert [Path(c).parent.name for c in loads.calls] == ["m0", "m1", "m2", "m3", "m4", "m5", "m0"]


def test_fifty_concurrent_first_requests_load_once(tmp_path):
    write_model(tmp_path / "models", "big", 1, "weights")
    loads = Loads(delay=0.3)
    store, _ = make_store(tmp_path, loads, cache_size=1)
    with ThreadPoolExecutor(50) as pool:
        values = list(pool.map(lambda _: get(store, "big"), range(50)))
    assert values == ["weights"] * 50
    assert len(loads.calls) == 1


def test_a_model_in_use_is_never_evicted_and_a_request_waits_for_room(tmp_path):
    for i in range(2):
        write_model(tmp_path / "models", f"m{i}", 1, f"v{i}")
    store, _ = make_store(tmp_path, Loads(), cache_size=1, wait=0.3)
    held = store.acquire("m0")
    with pytest.raises(Overloaded, match="all 1 models of cache_size are in use"):
        store.acquire("m1")  # m0 is pinned: no room within the wait
    assert ("m0", 1) in store.memory
    threading.Timer(0.1, store.release, [held]).start()
    store.wait = 5
    assert get(store, "m1") == "v1"  # room once m0 is released
    assert list(store.memory) == [("m1", 1)]


def test_unknown_model_or_version_lists_what_exists(tmp_path):
    write_model(tmp_path / "models", "iris", 1, "a")
    write_model(tmp_path / "models", "iris", 3, "b")
    write_model(tmp_path / "models", "wine", 1, "c")
    store, _ = make_store(tmp_path, Loads())
    assert get(store, "iris") == "b" and get(store, "iris", "1") == "a" and get(store, "iris", 3) == "b"
    with pytest.raises(ModelNotServed, match="no model 'rose'.*models: iris, wine") as info:
        get(store, "rose")
    assert info.value.http_status == 404 and info.value.hint
    with pytest.raises(ModelNotServed, match="model 'iris' has no version '2'; versions: 1, 3 and latest"):
        get(store, "iris", "2")
    with pytest.raises(ModelNotServed, match="needs a model name: this API serves 2 models"):
        get(store, None)


def test_latest_stays_on_the_last_good_version_and_a_fix_is_picked_up(tmp_path):
    write_model(tmp_path / "models", "iris", 1, "good")
    bad = write_model(tmp_path / "models", "iris", 2, "bad", fail=True)
    store, watcher = make_store(tmp_path, Loads())
    assert get(store, "iris") == "good"
    with pytest.raises(ModelLoadFailed, match="model 'iris' version 2 failed to load: ValueError: corrupt"):
        get(store, "iris", "2")
    (bad / "fail").unlink()  # fixed in place: a new fingerprint, so the failure no longer holds
    watcher.apply(watcher.scan())
    assert get(store, "iris") == "bad"


def test_watcher_adds_warms_removes_and_reloads(tmp_path):
    models = tmp_path / "models"
    write_model(models, "iris", 1, "one")
    loads = Loads()
    store, watcher = make_store(tmp_path, loads, cache_size=2)
    assert get(store, "iris") == "one"
    write_model(models, "iris", 2, "two")
    watcher.apply(watcher.scan())
    assert ("iris", 2) in store.memory, "the new latest was loaded before it was published"
    assert get(store, "iris") == "two" and len(loads.calls) == 2
    (models / "iris" / "2" / "value.txt").write_text("two, retrained")
    time.sleep(0.01)
    watcher.apply(watcher.scan())
    assert get(store, "iris") == "two, retrained"
    held = store.acquire("iris", "1")
    import shutil
    shutil.rmtree(models / "iris" / "1")
    watcher.apply(watcher.scan())
    assert ("iris", 1) not in store.memory and held.value == "one"  # the request keeps what it holds
    store.release(held)
    with pytest.raises(ModelNotServed, match="versions: 2 and latest"):
        get(store, "iris", "1")
    described = store.describe()
    assert described[0]["name"] == "iris" and described[0]["versions"] == [2]
    assert described[0]["in_memory"] == [2] and described[0]["last_used"] is not None
