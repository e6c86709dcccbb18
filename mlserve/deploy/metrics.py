"""Request counts and latency percentiles from a runtime's Prometheus `/metrics` page (any backend)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from mlserve.runtime.metrics import IN_FLIGHT, LATENCY, REQUESTS, SPLITTER_REQUESTS


@dataclass
class Summary:
    requests: int = 0
    by_class: dict[str, int] | None = None  # "2xx" -> count
    p50_ms: float | None = None
    p99_ms: float | None = None
    by_backend: dict[str, int] | None = None  # traffic splitters: API behind it -> requests sent
    in_flight: float | None = None  # requests being handled right now (None: not on the page)


def summarize(text: str) -> Summary:
    by_class = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
    buckets: dict[float, float] = {}
    by_backend: dict[str, int] = {}
    in_flight: float | None = None
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
    cumulative = sorted(buckets.items())
    return Summary(
        requests=sum(by_class.values()), by_class=by_class, by_backend=by_backend,
        p50_ms=_ms(histogram_quantile(0.5, cumulative)), p99_ms=_ms(histogram_quantile(0.99, cumulative)),
        in_flight=in_flight,
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


def scrape(port: int, timeout: float = 1.0) -> Summary | None:
    """The API's summary, or None when its metrics cannot be read right now."""
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=timeout)
        response.raise_for_status()
        return summarize(response.text)
    except (httpx.HTTPError, ValueError):
        return None


def recent_error_lines(text: str) -> list[str]:
    """`get API`'s lines for a runtime's GET /recent-errors answer (latest first)."""
    import json
    import time

    try:
        entries = json.loads(text).get("recent", [])
    except (ValueError, AttributeError):
        return []
    return [f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(e['time']))}  {e['status']}  "
            f"POST {e['path']}  request id {e['request_id']}" for e in reversed(entries)]


def scrape_recent_errors(port: int, timeout: float = 1.0) -> list[str]:
    from mlserve.runtime.recent import PATH

    try:
        response = httpx.get(f"http://127.0.0.1:{port}{PATH}", timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError:
        return []
    return recent_error_lines(response.text)


def splitter_backends(spec: dict, summary: Summary | None) -> list[dict]:
    """`mlserve get`'s rows for a traffic splitter: each API behind it, its weight, requests sent."""
    sent = (summary and summary.by_backend) or {}
    return [{"api": a["name"], "weight": a.get("weight") or 0, "shadow": a.get("shadow", False),
             "requests": sent.get(a["name"], 0)} for a in spec.get("apis", [])]
