"""Summaries of load-generator samples: percentiles, achieved rate, and throughput at an SLO."""

from __future__ import annotations

import math
from collections import Counter

from bench.loadgen import Sample


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]; None for no values."""
    if not values:
        return None
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def _ms(values: list[float]) -> dict:
    return {f"p{q}": _round(percentile(values, q), 1000, 4) for q in (50, 90, 99)} | {
        "mean": _round(sum(values) / len(values), 1000, 4) if values else None,
        "max": _round(max(values), 1000, 4) if values else None,
    }


def _round(value: float | None, scale: float = 1.0, digits: int = 3) -> float | None:
    return None if value is None else round(value * scale, digits)


def summarize(samples: list[Sample], offered_rps: float | None = None) -> dict:
    """Latency (ms, from scheduled send) of successful requests, error counts, achieved rate."""
    ok = [s for s in samples if 200 <= s.status < 300]
    errors = Counter(_error_kind(s) for s in samples if not 200 <= s.status < 300)
    # Successes per second between the first and the last success (so the first response's
    # latency does not read as lost throughput on a short point), over at least the span the
    # requests were sent in (so batches finishing together cannot read as more than was sent).
    done = sorted(s.done for s in ok)
    sends = [s.intended for s in samples]
    span = max(done[-1] - done[0], max(sends) - min(sends)) if len(done) > 1 else 0.0
    ttfts = [s.ttft for s in ok if s.ttft is not None]
    lags = [s.sent - s.intended for s in samples if s.sent]
    return {
        "n": len(samples),
        "ok": len(ok),
        "errors": dict(errors),
        "error_rate": round(1 - len(ok) / len(samples), 4) if samples else None,
        "offered_rps": _round(offered_rps),
        "achieved_rps": _round((len(ok) - 1) / span) if span > 0 else None,
        "latency_ms": _ms([s.latency for s in ok]),
        "ttft_ms": _ms(ttfts) if ttfts else None,
        "send_lag_ms_p99": _round(percentile(lags, 99), 1000),
    }


def summarize_rounds(rounds: list[list[Sample]], offered_rps: float | None = None) -> dict:
    """Latency percentiles and errors over all rounds' samples pooled; the achieved rate is the
    median of each round's own (rates cannot be pooled: rounds are minutes apart)."""
    out = summarize([s for samples in rounds for s in samples], offered_rps)
    per_round = [summarize(samples, offered_rps)["achieved_rps"] for samples in rounds]
    out["achieved_rps"] = _median(per_round)
    out["achieved_rps_by_round"] = per_round
    return out


def _error_kind(sample: Sample) -> str:
    if sample.status:
        return str(sample.status)
    return (sample.error or "error").split(":")[0]


def throughput_at_slo(points: list[dict], slo_ms: float, max_error_rate: float = 0.01) -> float | None:
    """The highest achieved rate among load points whose p90 meets the SLO with few errors."""
    good = [p["achieved_rps"] for p in points
            if p["latency_ms"]["p90"] is not None and p["latency_ms"]["p90"] <= slo_ms
            and (p["error_rate"] or 0) <= max_error_rate and p["achieved_rps"]]
    return max(good) if good else None


def saturation_rps(points: list[dict]) -> float | None:
    rates = [p["achieved_rps"] for p in points if p["achieved_rps"]]
    return max(rates) if rates else None


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(percentile(values, 50), 3) if values else None
