"""The metric names a runtime (or splitter) exposes on `/metrics`, and their reader.

The runtime writes them (runtime/metrics.py, splitter/proxy.py); the deploy backends (`mlserve
get`) and the in-cluster autoscaler read them back with `summarize`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

REQUESTS = "mlserve_requests"  # counter, labels `api`, `code` (HTTP status code)
LATENCY = "mlserve_request_duration_seconds"  # histogram
# A traffic splitter's requests per API behind it: counter, labels `splitter`, `api`, `code`, `role`.
SPLITTER_REQUESTS = "mlserve_splitter_backend_requests"
IN_FLIGHT = "mlserve_in_flight_requests"  # gauge: requests being handled (the autoscaler's input)
# An AsyncAPI's gateway: its queue (gauges read at scrape time) and its workers' processing time.
ASYNC_QUEUE_LENGTH = "mlserve_async_queue_length"  # items waiting for a worker
ASYNC_IN_PROGRESS = "mlserve_async_in_progress"  # items a worker holds (the autoscaler adds them)
ASYNC_OLDEST_AGE = "mlserve_async_oldest_item_age_seconds"  # age of the oldest unfinished item
ASYNC_FAILED = "mlserve_async_dead_items"  # items given up on (kept as dead letters)
ASYNC_PROCESSING = "mlserve_async_processing_seconds"  # histogram: lease to record written


@dataclass
class Summary:
    requests: int = 0
    by_class: dict[str, int] | None = None  # "2xx" -> count
    p50_ms: float | None = None
    p99_ms: float | None = None
    by_backend: dict[str, int] | None = None  # traffic splitters: API behind it -> requests sent
    in_flight: float | None = None  # requests being handled right now (None: not on the page)
    queued: float | None = None  # AsyncAPIs: items waiting, items a worker holds, items given up on,
    in_progress: float | None = None  # and the age of the oldest unfinished item (seconds)
    failed: float | None = None
    oldest_age_s: float | None = None


def summarize(text: str) -> Summary:
    by_class = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
    buckets: dict[float, float] = {}
    by_backend: dict[str, int] = {}
    in_flight: float | None = None
    gauges: dict[str, float] = {}
    # Matched by sample name, so it does not matter how the exposition groups families.
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{REQUESTS}_total":
                key = f"{str(sample.labels.get('code', ''))[:1]}xx"
                if key in by_class:
                    by_class[key] += int(sample.value)
            elif sample.name == f"{LATENCY}_bucket":
                le = float(sample.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
            elif sample.name == f"{SPLITTER_REQUESTS}_total":
                api = str(sample.labels.get("api"))
                by_backend[api] = by_backend.get(api, 0) + int(sample.value)
            elif sample.name == IN_FLIGHT:
                in_flight = (in_flight or 0.0) + sample.value
            elif sample.name in (ASYNC_QUEUE_LENGTH, ASYNC_IN_PROGRESS, ASYNC_FAILED):
                gauges[sample.name] = gauges.get(sample.name, 0.0) + sample.value
            elif sample.name == ASYNC_OLDEST_AGE:  # every gateway replica reads the same queue
                gauges[sample.name] = max(gauges.get(sample.name, 0.0), sample.value)
    cumulative = sorted(buckets.items())
    return Summary(
        requests=sum(by_class.values()), by_class=by_class, by_backend=by_backend,
        p50_ms=_ms(histogram_quantile(0.5, cumulative)), p99_ms=_ms(histogram_quantile(0.99, cumulative)),
        in_flight=in_flight, queued=gauges.get(ASYNC_QUEUE_LENGTH), in_progress=gauges.get(ASYNC_IN_PROGRESS),
        failed=gauges.get(ASYNC_FAILED), oldest_age_s=gauges.get(ASYNC_OLDEST_AGE),
    )


def histogram_quantile(q: float, cumulative: list[tuple[float, float]]) -> float | None:
    """Prometheus' estimate: linear interpolation inside the bucket holding the q-th observation."""
    if not cumulative or cumulative[-1][1] <= 0:
        return None
    total = cumulative[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # beyond the last finite bucket: its bound is the best estimate
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
