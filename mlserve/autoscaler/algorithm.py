"""Cortex's request-based autoscaling algorithm, as a pure function of its inputs.

Every tick the controller observes an API (the in-flight requests of each replica it could
scrape, and the Deployment's replica count) and calls `decide`, which returns the decision and
the new history. Nothing here reads a clock or the network: the unit tests replay recorded traces.

Per tick, as Cortex's RealtimeAPI autoscaler did it:
1. the API-wide in-flight total (sum over replicas) is averaged over the last `window`;
2. recommendation = ceil(average / target_replica_concurrency), kept at the current count when
   within `downscale_tolerance` / `upscale_tolerance` of it;
3. clamped to min_replicas..max_replicas (at least 1: a replica is needed to measure load, except
   where the load is a queue's length: an AsyncAPI's workers go to 0 with `min_replicas: 0`);
4. the count goes up to the lowest recommendation of the last `upscale_stabilization_period`, or
   down to the highest of the last `downscale_stabilization_period`; neither before the history
   covers that period (after a fresh start the count is held that long);
5. each step is capped by `max_upscale_factor` / `max_downscale_factor` (one replica always allowed).
6. from 0 (a queue's workers), an item waiting brings one replica back on this tick: the upscale
   period smooths growth, it is no reason to leave work nobody runs.

Data gaps, on purpose: a tick where no replica could be scraped adds no sample (the window average
uses what it has; with no sample in the window the count is held). A tick where some ready replica
could not be scraped never recommends fewer replicas than the current count.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from mlserve.spec import Autoscaling, parse_duration


@dataclass(frozen=True)
class Settings:
    min_replicas: int
    max_replicas: int
    target_replica_concurrency: float
    window: float  # seconds
    downscale_stabilization_period: float
    upscale_stabilization_period: float
    max_downscale_factor: float
    max_upscale_factor: float
    downscale_tolerance: float
    upscale_tolerance: float
    queue: bool = False  # the load is a queue's (read without replicas): min_replicas 0 is honoured

    @classmethod
    def from_spec(cls, a: Autoscaling, *, queue: bool = False) -> Settings:
        return cls(queue=queue,
            min_replicas=a.min_replicas, max_replicas=a.max_replicas,
            target_replica_concurrency=float(a.target_replica_concurrency or 1.0),
            window=parse_duration(a.window),
            downscale_stabilization_period=parse_duration(a.downscale_stabilization_period),
            upscale_stabilization_period=parse_duration(a.upscale_stabilization_period),
            max_downscale_factor=a.max_downscale_factor, max_upscale_factor=a.max_upscale_factor,
            downscale_tolerance=a.downscale_tolerance, upscale_tolerance=a.upscale_tolerance,
        )


@dataclass(frozen=True)
class Observation:
    now: float  # seconds (wall clock: the history outlives the controller's process)
    replicas: int  # the Deployment's spec.replicas
    in_flight: tuple[float, ...] = ()  # one value per replica whose /metrics was read
    missing: int = 0  # ready replicas that should have been read but were not


@dataclass
class History:
    """What the algorithm remembers between ticks (kept in the cluster by the controller)."""

    since: float | None = None  # first tick of the current, unbroken history
    samples: list[tuple[float, float]] = field(default_factory=list)  # (time, API-wide in-flight)
    recommendations: list[tuple[float, int]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"since": self.since, "samples": [list(s) for s in self.samples],
                "recommendations": [list(r) for r in self.recommendations]}

    @classmethod
    def from_json(cls, data: dict | None) -> History:
        data = data or {}
        return cls(since=data.get("since"),
                   samples=[(float(t), float(v)) for t, v in data.get("samples") or []],
                   recommendations=[(float(t), int(r)) for t, r in data.get("recommendations") or []])


@dataclass(frozen=True)
class Decision:
    """One tick's outcome with every input that led to it (logged, and shown by `mlserve get`)."""

    time: float
    current: int
    request: int
    avg_in_flight: float | None = None
    scraped: int = 0
    missing: int = 0
    raw_recommendation: float | None = None
    recommendation: int | None = None
    downscale_factor_floor: int | None = None
    upscale_factor_ceil: int | None = None
    downscale_stabilization_floor: int | None = None
    upscale_stabilization_ceil: int | None = None
    note: str = ""

    def to_json(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def describe(self) -> str:
        """One log line: the outcome, then every input."""
        outcome = f"{self.current} -> {self.request}" if self.request != self.current else f"stay at {self.current}"
        inputs = ", ".join(f"{k}={v}" for k, v in self.to_json().items()
                           if k not in ("time", "current", "request", "note") and v is not None)
        return f"{outcome} ({self.note}; {inputs})" if self.note else f"{outcome} ({inputs})"


def decide(s: Settings, history: History, obs: Observation) -> tuple[Decision, History]:
    now, current = obs.now, obs.replicas
    low, high = (s.min_replicas if s.queue else max(1, s.min_replicas)), max(1, s.max_replicas)
    keep = max(s.downscale_stabilization_period, s.upscale_stabilization_period)
    recommendations = [(t, r) for t, r in history.recommendations if now - t <= keep]
    # An empty history (first tick, or one that went stale) starts over, as after a fresh start.
    since = history.since if recommendations and history.since is not None else now
    samples = [(t, v) for t, v in history.samples if now - t < s.window]
    if obs.in_flight:
        samples.append((now, float(sum(obs.in_flight))))
    base = dict(time=now, current=current, scraped=len(obs.in_flight), missing=obs.missing)
    if not samples:
        held = min(max(current, low), high)
        return (Decision(request=held, note="no metrics in the window: holding", **base),
                History(since, samples, recommendations))

    avg = sum(v for _, v in samples) / len(samples)
    raw = avg / s.target_replica_concurrency
    recommendation = math.ceil(raw)
    if current * (1 - s.downscale_tolerance) < raw < current:
        recommendation = current
    if current < raw < current * (1 + s.upscale_tolerance):
        recommendation = current
    recommendation = min(max(recommendation, low), high)
    note = ""
    if obs.missing and recommendation < current:
        recommendation, note = current, f"{obs.missing} ready replica(s) not scraped: no scale-down"
    recommendations.append((now, recommendation))

    # Up only as far as every recommendation of the upscale period agrees (their lowest), down only
    # as far as every one of the downscale period agrees (their highest); each only once the history
    # covers that period. (Cortex's code applied both bounds in a row, so the upscale bound could
    # undo the downscale one; this follows its documented meaning, as the Kubernetes HPA does.)
    up = [r for t, r in recommendations if now - t <= s.upscale_stabilization_period]
    down = [r for t, r in recommendations if now - t <= s.downscale_stabilization_period]
    up_ceil, down_floor = min(up), max(down)
    request = current
    if up_ceil > current and now - since >= s.upscale_stabilization_period:
        request = up_ceil
    elif down_floor < current and now - since >= s.downscale_stabilization_period:
        request = down_floor
    # Then cap the step; one replica more or less is always allowed.
    floor = min(current - 1, math.ceil(current * s.max_downscale_factor))
    ceil = max(current + 1, math.ceil(current * s.max_upscale_factor))
    request = min(max(min(max(request, floor), ceil), low), high)
    if current == 0 and sum(obs.in_flight) > 0:  # rule 6 (only a queue's workers are observed at 0)
        request, note = max(request, 1), "work waiting: one replica back from zero"
    decision = Decision(request=request, avg_in_flight=avg, raw_recommendation=raw, recommendation=recommendation,
                        downscale_factor_floor=floor, upscale_factor_ceil=ceil,
                        downscale_stabilization_floor=down_floor, upscale_stabilization_ceil=up_ceil,
                        note=note, **base)
    return decision, History(since, samples, recommendations)
