"""Prometheus metrics for one API, in a registry of its own (no process-global state).

With several worker processes (`processes_per_replica` > 1) the server sets
PROMETHEUS_MULTIPROC_DIR before the workers start; prometheus-client then keeps values in
per-process files and `render` merges them, so any worker answers for the whole replica.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from mlserve.contract.metrics import IN_FLIGHT, LATENCY, REQUESTS
from mlserve.runtime.recent import RecentErrors

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    def __init__(self, api: str, multiprocess_dir: str | None = None) -> None:
        self.api = api
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        r = self.registry
        self._requests = Counter(REQUESTS, "Prediction requests by HTTP status code.",
                                 ["api", "code"], registry=r)
        self.latency = Histogram(LATENCY, "Prediction request latency.",
                                 ["api"], buckets=LATENCY_BUCKETS, registry=r).labels(api)
        self.in_flight = Gauge(IN_FLIGHT, "Prediction requests being handled.",
                               ["api"], multiprocess_mode="livesum", registry=r).labels(api)
        self.batch_size = Histogram("mlserve_batch_size", "Requests per server-side batch.",
                                    ["api"], buckets=BATCH_BUCKETS, registry=r).labels(api)
        self.superseded = Counter("mlserve_superseded", "Requests cancelled by a newer request of their session.",
                                  ["api"], registry=r).labels(api)
        self._by_code: dict[int, Counter] = {}
        self.recent_errors = RecentErrors(multiprocess_dir)

    def observe(self, code: int, seconds: float) -> None:
        counter = self._by_code.get(code)
        if counter is None:
            counter = self._by_code[code] = self._requests.labels(self.api, str(code))
        counter.inc()
        self.latency.observe(seconds)

    def render(self) -> bytes:
        if self.multiprocess_dir:
            from prometheus_client.multiprocess import MultiProcessCollector

            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)
            return generate_latest(registry)
        return generate_latest(self.registry)

    def close(self) -> None:
        """Retire this process's live gauges (multiprocess mode)."""
        if self.multiprocess_dir:
            from prometheus_client.multiprocess import mark_process_dead

            mark_process_dead(os.getpid(), self.multiprocess_dir)
