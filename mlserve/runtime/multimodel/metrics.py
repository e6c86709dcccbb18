"""The metrics of a multi-model API, in the API's registry (runtime/metrics.py): per model requests and
latency, loads and their time, cache lookups by level, and the changes the watcher applied."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mlserve.runtime.metrics import LATENCY_BUCKETS

MODEL_REQUESTS = "mlserve_model_requests"  # counter: api, model, code
MODEL_LATENCY = "mlserve_model_request_duration_seconds"  # histogram: api, model
MODEL_LOADS = "mlserve_model_loads"  # counter: api, model, outcome (ok | failed)
MODEL_LOAD_TIME = "mlserve_model_load_seconds"  # histogram: api, model
MODEL_LOOKUPS = "mlserve_model_cache_lookups"  # counter: api, level (memory | disk | cold)
MODEL_CHANGES = "mlserve_model_changes"  # counter: api, change (added | removed | changed)
MODELS_IN_MEMORY = "mlserve_models_in_memory"  # gauge: api


class ModelMetrics:
    def __init__(self, api: str, registry: CollectorRegistry) -> None:
        self.api = api
        r = registry
        self._requests = Counter(MODEL_REQUESTS, "Prediction requests per model and HTTP status code.",
                                 ["api", "model", "code"], registry=r)
        self._latency = Histogram(MODEL_LATENCY, "Prediction latency per model.", ["api", "model"],
                                  buckets=LATENCY_BUCKETS, registry=r)
        self._loads = Counter(MODEL_LOADS, "load_model calls per model and outcome.",
                              ["api", "model", "outcome"], registry=r)
        self._load_time = Histogram(MODEL_LOAD_TIME, "Seconds per model load (download included).",
                                    ["api", "model"], buckets=LATENCY_BUCKETS, registry=r)
        self._lookups = Counter(MODEL_LOOKUPS, "get_model lookups by the level that answered.",
                                ["api", "level"], registry=r)
        self._changes = Counter(MODEL_CHANGES, "Model versions the watcher found added, removed or changed.",
                                ["api", "change"], registry=r)
        self.in_memory = Gauge(MODELS_IN_MEMORY, "Model versions held in memory.", ["api"],
                               multiprocess_mode="livesum", registry=r).labels(api)

    def request(self, model: str, code: int, seconds: float) -> None:
        self._requests.labels(self.api, model, str(code)).inc()
        self._latency.labels(self.api, model).observe(seconds)

    def load(self, model: str, ok: bool, seconds: float) -> None:
        self._loads.labels(self.api, model, "ok" if ok else "failed").inc()
        self._load_time.labels(self.api, model).observe(seconds)

    def lookup(self, level: str) -> None:
        self._lookups.labels(self.api, level).inc()

    def change(self, kind: str) -> None:
        self._changes.labels(self.api, kind).inc()
