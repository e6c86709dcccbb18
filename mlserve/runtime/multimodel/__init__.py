"""Many models behind one API (`predictor.multi_model_reloading`, Cortex's multi-model caching and
live reloading): the cache (store.py), the watcher (watcher.py), python_client and the per-request
lease (client.py), the metrics (metrics.py). `MultiModel` wires them for the data plane.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from mlserve.contract.env import MODELS_FILE
from mlserve.models.cache import cache_dir
from mlserve.models.repository import scan
from mlserve.runtime.multimodel.client import PythonClient, open_lease
from mlserve.runtime.multimodel.metrics import ModelMetrics
from mlserve.runtime.multimodel.models_list import ModelsList
from mlserve.runtime.multimodel.store import Loaded, ModelStore
from mlserve.runtime.multimodel.watcher import Watcher
from mlserve.runtime.runner import Runner
from mlserve.spec import APISpec

PATH = "/models"  # GET: the models, their versions, in memory / on disk (`mlserve get API`)


class MultiModel:
    def __init__(self, api: APISpec, root: Path, runner: Runner, registry: CollectorRegistry) -> None:
        config = api.predictor.multi_model_reloading
        assert config is not None
        self.metrics = ModelMetrics(api.name, registry)
        self.store = ModelStore(runner.load_model, self.metrics, cache_dir(), cache_size=config.cache_size,
                                disk_cache_size=config.disk_cache_size, wait=api.predictor.request_timeout)
        self.client = PythonClient(self.store)
        deployed = os.environ.get(MODELS_FILE)  # the list a deploy pushes (server.py --models)
        self.models = ModelsList(config, root, Path(deployed) if deployed else None)
        self.watcher = Watcher(self.store, lambda: scan(self.models.config, self.models.root),
                               config.watch_interval, self.models)

    def describe(self) -> dict:
        """`GET /models`: each model, and the version of the deployed list being served."""
        return {"models": self.store.describe(), "list": self.watcher.applied}

    def open(self) -> tuple[list[Loaded], float]:
        """A request starts: its lease and start time."""
        return open_lease(), time.perf_counter()

    def close(self, lease: list[Loaded], started: float, code: int) -> None:
        """A request ended with `code`: count it per model it used, and unpin those models."""
        seconds = time.perf_counter() - started
        for model in {slot.version.model for slot in lease}:
            self.metrics.request(model, code, seconds)
        for slot in lease:
            self.store.release(slot)
        lease.clear()


__all__ = ["PATH", "MultiModel", "PythonClient"]
