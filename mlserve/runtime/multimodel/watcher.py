"""The watcher of a multi-model API: every `watch_interval` it scans the models (local sizes and
mtimes, S3 listings with ETags; models/repository.py) and applies what changed.

A new version that becomes `latest` is loaded before it is published (when the model's latest is in
memory, or always without caching), so requests switch to it without waiting or failing; a version
that fails to load keeps its error and `latest` stays on the version below. Removed versions leave
memory; a version changed in place leaves memory and, if it was loaded, is loaded again. Each
change is logged and counted (mlserve_model_changes). A new deployed models list (models_list.py)
is applied as soon as it is read; `applied` is its version once published.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from mlserve.models.repository import Listing
from mlserve.runtime.multimodel.models_list import POLL, ModelsList
from mlserve.runtime.multimodel.store import ModelStore

log = logging.getLogger("mlserve.runtime")


class Watcher:
    def __init__(self, store: ModelStore, scan: Callable[[], Listing], interval: float,
                 models: ModelsList | None = None) -> None:
        self.store, self.scan, self.interval, self.models = store, scan, interval, models
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._problems: dict[str, str] = {}
        self.applied: str | None = None  # the deployed list's version now served

    def first(self) -> None:
        """The first scan, published as it is (before the predictor's __init__ may ask for models)."""
        if self.models is not None:
            self.models.read()
        listing = self.scan()
        self._log_problems(listing)
        self.store.publish(listing)
        self.applied = self.models.version if self.models is not None else None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="model-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def preload(self) -> None:
        """Cortex: without caching every model is loaded at start, before the API is ready (so the
        first request is no cold load). A model that fails to load is its own error, not the API's."""
        if self.store.cache_size is None:
            for versions in list(self.store.listing.models.values()):
                for v in versions.values():
                    self.store.preload(v)

    def _run(self) -> None:
        deployed = self.models is not None and self.models.file is not None
        due = time.monotonic() + self.interval
        while not self._stop.wait(min(POLL, self.interval) if deployed else self.interval):
            # A new deployed list is applied at once; the models' files are scanned every interval.
            if not (deployed and self.models.read()) and time.monotonic() < due:  # type: ignore[union-attr]
                continue
            due = time.monotonic() + self.interval
            try:
                self.apply(self.scan())
                self.applied = self.models.version if self.models is not None else None
            except Exception:  # a bad scan (S3 unreachable...) keeps serving what was there
                log.exception("models: the scan failed; serving the models as they were")

    def apply(self, listing: Listing) -> None:
        """Publish `listing`, warming new latest versions first and reloading changed loaded ones."""
        changes = self.store.diff(listing)
        if listing.error is not None and not any(listing.models.values()):
            log.error("models: %s; keeping the last listing", listing.error)
            return
        reload = [v for kind, v in changes
                  if kind == "changed" and (v.model, v.number) in self.store.memory]
        for kind, v in changes:
            if kind == "added" and self.store.warm(v):
                self.store.preload(v)
        self.store.publish(listing)
        for kind, v in changes:
            log.info("models: %s version %d %s", v.model, v.number, kind)
            self.store.metrics.change(kind)
        for v in reload:
            self.store.preload(v)
        self._log_problems(listing)

    def _log_problems(self, listing: Listing) -> None:
        """Each model's problem once, when it appears (not every interval)."""
        for model, problem in listing.problems.items():
            if self._problems.get(model) != problem:
                log.warning("models: %s: %s", model, problem)
        self._problems = dict(listing.problems)
