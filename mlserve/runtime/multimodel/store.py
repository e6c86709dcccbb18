"""The model cache of a multi-model API: Cortex's two-level LRU, with single-flight loads.

`acquire(model, version)` answers the loaded model with one reference taken; `release` gives it
back. A model version is loaded once however many requests ask for it at the same time (the
first starts the load, the others wait for it). At most `cache_size` versions are in memory or
loading; to make room the least recently used one *without references* is dropped, so a model a
request is using is never evicted (with all of them in use, a request waits, then gets 503).
Versions fetched from S3 stay on disk in the model cache, at most `disk_cache_size` of them.

Everything here runs off the event loop: in the predictor's thread (get_model) or the watcher's.
`load` is the predictor's load_model through the Runner, the one caller of user code.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlserve.errors import ModelLoadFailed, ModelNotServed, Overloaded
from mlserve.models.cache import remove_entry
from mlserve.models.repository import Listing, Version, local_folder
from mlserve.runtime.loader import user_traceback
from mlserve.runtime.multimodel.metrics import ModelMetrics
from mlserve.runtime.runner import PREDICTOR_EXCEPTIONS

log = logging.getLogger("mlserve.runtime")
Key = tuple[str, int]


@dataclass(eq=False)
class Loaded:
    version: Version
    value: Any
    load_seconds: float
    loaded_at: float = field(default_factory=time.time)
    refs: int = 0


class ModelStore:
    def __init__(self, load: Callable[[str], Any], metrics: ModelMetrics, cache: Path, *,
                 cache_size: int | None = None, disk_cache_size: int | None = None, wait: float = 60.0) -> None:
        self.load, self.metrics, self.cache = load, metrics, cache
        self.cache_size, self.disk_cache_size, self.wait = cache_size, disk_cache_size, wait
        self.listing = Listing()
        self._cond = threading.Condition()
        self.memory: OrderedDict[Key, Loaded] = OrderedDict()
        self.loading: dict[Key, Future] = {}
        self.failed: dict[Key, tuple[str, ModelLoadFailed]] = {}  # the failed fingerprint and its error
        self.disk: OrderedDict[Key, Path] = OrderedDict()
        self.last_used: dict[str, float] = {}

    # -- lookups ---------------------------------------------------------------------------

    def acquire(self, model: str | None, version: str | int = "latest") -> Loaded:
        """The loaded `version` ("latest" or a number) of `model` (None: the API's only model), one
        reference taken. `latest` is the highest version that has not failed to load."""
        deadline = time.monotonic() + self.wait
        while True:
            with self._cond:
                chosen = self._resolve(model, version)
            slot = self._get(chosen, deadline)
            if slot is not None:
                self.last_used[chosen.model] = time.time()
                return slot

    def release(self, slot: Loaded) -> None:
        with self._cond:
            slot.refs -= 1
            if slot.refs == 0:
                self._cond.notify_all()

    def preload(self, version: Version) -> bool:
        """Load `version` into memory if it is not there (the watcher's warm-up); False if it failed."""
        slot = self._get(version, time.monotonic() + self.wait)
        if slot is not None:
            self.release(slot)
        return slot is not None

    def _failure(self, v: Version) -> ModelLoadFailed | None:
        failed = self.failed.get((v.model, v.number))
        return failed[1] if failed is not None and failed[0] == v.fingerprint else None

    def _resolve(self, model: str | None, version: str | int) -> Version:
        models = self.listing.models
        if model is None:
            if len(models) != 1:
                raise ModelNotServed(f"get_model() needs a model name: this API serves {len(models)} models "
                                     f"({', '.join(sorted(models)) or 'none'})",
                                     hint="pass model_name, e.g. from the request's query parameters")
            model = next(iter(models))
        versions = models.get(model)
        if not versions:
            why = self.listing.problems.get(model) or self.listing.error
            raise ModelNotServed(
                f"no model '{model}'" + (f" ({why})" if why else "")
                + f"; models: {', '.join(sorted(m for m, vs in models.items() if vs)) or 'none'}",
                hint="ask for one of the models listed, or add its files where multi_model_reloading points")
        if str(version) == "latest":
            good = [v for _, v in sorted(versions.items(), reverse=True) if self._failure(v) is None]
            if good:
                return good[0]
            raise self._failure(versions[max(versions)]) or AssertionError("a version without a failure")
        number = int(version) if str(version).isdigit() else None
        if number not in versions:
            raise ModelNotServed(f"model '{model}' has no version '{version}'; versions: "
                                 f"{', '.join(str(n) for n in sorted(versions))} and latest",
                                 hint="ask for one of the versions listed, or 'latest'")
        error = self._failure(versions[number])
        if error is not None:
            raise error
        return versions[number]

    def _get(self, v: Version, deadline: float) -> Loaded | None:
        """`v` in memory with a reference taken: found, waited for, or loaded here. None when its load
        failed (the caller resolves again: `latest` then means the version below)."""
        key = (v.model, v.number)
        while True:
            with self._cond:
                if self._failure(v) is not None:
                    return None
                slot = self.memory.get(key)
                if slot is not None and slot.version.fingerprint == v.fingerprint:
                    slot.refs += 1
                    self.memory.move_to_end(key)
                    self.metrics.lookup("memory")
                    return slot
                future = self.loading.get(key)
                if future is None:
                    if not self._make_room(deadline):
                        continue  # waited for a release: look again
                    future = self.loading[key] = Future()
                    owner = True
                else:
                    owner = False
            if owner:
                return self._load(v, future)
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise self._busy(f"model '{v.model}' version {v.number} is still loading") from None

    def _make_room(self, deadline: float) -> bool:
        """Called holding the lock: True once one more version fits; False after waiting for a release."""
        while self.cache_size is not None and len(self.memory) + len(self.loading) >= self.cache_size:
            idle = next((k for k, s in self.memory.items() if s.refs == 0), None)
            if idle is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._busy(f"all {self.cache_size} models of cache_size are in use")
                self._cond.wait(remaining)
                return False
            log.info("model %s version %d: unloaded (least recently used)", *idle)
            del self.memory[idle]
        return True

    def _busy(self, why: str) -> Overloaded:
        return Overloaded(why, retry_after=1, hint="retry; if this persists, raise "
                          "predictor.multi_model_reloading.cache_size or the API's replicas")

    # -- loading ---------------------------------------------------------------------------

    def _load(self, v: Version, future: Future) -> Loaded | None:
        key = (v.model, v.number)
        started = time.perf_counter()
        try:
            value = self.load(str(self._fetch(v)))
        except PREDICTOR_EXCEPTIONS as e:
            seconds = time.perf_counter() - started
            log.error("model %s version %d: load_model failed\n%s", v.model, v.number, user_traceback(e))
            error = ModelLoadFailed(
                f"model '{v.model}' version {v.number} failed to load: {type(e).__name__}: {e}",
                hint="fix the version's files (the API reloads them when they change) or ask for another version")
            with self._cond:
                self.failed[key] = (v.fingerprint, error)
                self.loading.pop(key, None)
                self._cond.notify_all()
            self.metrics.load(v.model, False, seconds)
            future.set_result(None)
            return None
        seconds = time.perf_counter() - started
        slot = Loaded(v, value, seconds, refs=1)
        with self._cond:
            self.memory[key] = slot
            self.failed.pop(key, None)
            self.loading.pop(key, None)
            self.metrics.in_memory.set(len(self.memory))
            self._cond.notify_all()
        self.metrics.load(v.model, True, seconds)
        log.info("model %s version %d: loaded in %.3fs", v.model, v.number, seconds)
        future.set_result(slot)
        return slot

    def _fetch(self, v: Version) -> Path:
        """The version's folder; for S3, from the disk cache or downloaded into it (then the disk LRU)."""
        key = (v.model, v.number)
        with self._cond:
            folder = self.disk.get(key)
            if folder is not None and folder.is_dir():
                self.disk.move_to_end(key)
        if not v.remote or folder is not None and folder.is_dir():
            self.metrics.lookup("disk")
            return folder or local_folder(v, self.cache)
        folder = local_folder(v, self.cache)
        self.metrics.lookup("cold")
        stale = []
        with self._cond:
            self.disk[key] = folder
            while self.disk_cache_size is not None and len(self.disk) > self.disk_cache_size:
                old = next((k for k in self.disk if k not in self.loading and k != key), None)
                if old is None:
                    break
                stale.append(self.disk.pop(old))
        for path in stale:
            remove_entry(self.cache, path)
        return folder

    # -- changes (the watcher's) -------------------------------------------------------------

    def diff(self, listing: Listing) -> list[tuple[str, Version]]:
        """What publishing `listing` changes: ("added" | "removed" | "changed", version)."""
        with self._cond:
            old = self.listing.models
        changes = []
        for model, versions in old.items():
            for n, v in sorted(versions.items()):
                new = listing.models.get(model, {}).get(n)
                if new is None:
                    changes.append(("removed", v))
                elif new.fingerprint != v.fingerprint:
                    changes.append(("changed", new))
        for model, versions in listing.models.items():
            changes.extend(("added", v) for n, v in sorted(versions.items()) if n not in old.get(model, {}))
        return changes

    def warm(self, v: Version) -> bool:
        """Whether the watcher loads the new `v` before publishing it: always without caching (every
        model is kept), else when it becomes its model's latest and the latest is in memory now."""
        if self.cache_size is None:
            return True
        with self._cond:
            versions = self.listing.models.get(v.model, {})
            return bool(versions) and v.number > max(versions) and (v.model, max(versions)) in self.memory

    def publish(self, listing: Listing) -> None:
        """Make `listing` current. Removed and changed versions leave memory at once; requests using
        them finish with what they hold."""
        with self._cond:
            self.listing = listing
            for key in [k for k, s in self.memory.items()
                        if listing.models.get(k[0], {}).get(k[1]) is None
                        or listing.models[k[0]][k[1]].fingerprint != s.version.fingerprint]:
                del self.memory[key]
            self.metrics.in_memory.set(len(self.memory))
            self._cond.notify_all()

    def describe(self) -> list[dict]:
        """Each model: its versions, which are in memory / on disk, last used, load time (`mlserve get`)."""
        with self._cond:
            out = []
            for model, versions in sorted(self.listing.models.items()):
                out.append({
                    "name": model, "versions": sorted(versions), "latest": max(versions) if versions else None,
                    "in_memory": sorted(n for (m, n) in self.memory if m == model),
                    "on_disk": sorted(n for (m, n), p in self.disk.items() if m == model and p.is_dir()),
                    "failed": {str(n): e.message for (m, n), (fp, e) in self.failed.items()
                               if m == model and n in versions and versions[n].fingerprint == fp},
                    "last_used": self.last_used.get(model),
                    "load_seconds": {str(n): round(s.load_seconds, 4) for (m, n), s in self.memory.items()
                                     if m == model},
                    "problem": self.listing.problems.get(model),
                })
            return out
