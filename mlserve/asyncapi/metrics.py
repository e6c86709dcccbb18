"""The gateway's /metrics: its requests (runtime/metrics.py), the queue read at scrape time, and the
workers' processing time (merged from the launcher's metrics folder, when they share one)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily

from mlserve.contract.metrics import ASYNC_FAILED, ASYNC_IN_PROGRESS, ASYNC_OLDEST_AGE, ASYNC_QUEUE_LENGTH
from mlserve.queues import WorkQueue
from mlserve.runtime.metrics import Metrics


class QueueCollector:
    """Gauges read from the queue when scraped, so every gateway replica reports the same numbers."""

    def __init__(self, api: str, queue: WorkQueue) -> None:
        self.api, self.queue = api, queue
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def collect(self):
        counts = self.queue.counts()
        for name, doc, value in (
                (ASYNC_QUEUE_LENGTH, "Items waiting for a worker.", counts.waiting),
                (ASYNC_IN_PROGRESS, "Items a worker is running.", counts.in_flight),
                (ASYNC_OLDEST_AGE, "Age of the oldest unfinished item (0 when none).", counts.oldest_age_s or 0.0),
                (ASYNC_FAILED, "Items given up on after queue.max_attempts.", counts.dead)):
            family = GaugeMetricFamily(name, doc, labels=["api"])
            family.add_metric([self.api], float(value))
            yield family


def render(metrics: Metrics, queue: QueueCollector) -> tuple[bytes, int, dict, str]:
    """Response(*render(...)): the exposition text of both."""
    return metrics.render() + generate_latest(queue.registry), 200, {}, CONTENT_TYPE_LATEST
