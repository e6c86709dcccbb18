"""Cortex's autoscaling algorithm replayed over recorded in-flight traces, one tick every 10 s."""

from __future__ import annotations

from itertools import pairwise

import pytest

from mlserve.autoscaler.algorithm import Decision, History, Observation, Settings, decide
from mlserve.spec import Autoscaling

TICK = 10.0
# Short periods so that a trace stays readable: 30 s window (3 ticks), up after 20 s, down after 60 s.
FAST = Settings(min_replicas=1, max_replicas=10, target_replica_concurrency=2.0, window=30,
                downscale_stabilization_period=60, upscale_stabilization_period=20,
                max_downscale_factor=0.75, max_upscale_factor=1.5, downscale_tolerance=0.05, upscale_tolerance=0.05)


def replay(settings: Settings, trace: list, replicas: int = 1, history: History | None = None,
           start: float = 1_000_000.0) -> tuple[list[int], list[Decision], History]:
    """Feed one total in-flight value per tick (None: no replica could be scraped; a tuple
    (value, missing): some ready replicas were not scraped); the Deployment follows each request."""
    history = history or History()
    counts, decisions = [], []
    for i, value in enumerate(trace):
        in_flight, missing = ((), 0) if value is None else value if isinstance(value, tuple) else (value, 0)
        obs = Observation(now=start + i * TICK, replicas=replicas,
                          in_flight=() if value is None else (float(in_flight),), missing=missing)
        decision, history = decide(settings, history, obs)
        replicas = decision.request
        counts.append(replicas)
        decisions.append(decision)
    return counts, decisions, history


def test_defaults_are_cortexs():
    s = Settings.from_spec(Autoscaling(target_replica_concurrency=1))
    assert (s.min_replicas, s.max_replicas, s.window) == (1, 100, 60)
    assert (s.downscale_stabilization_period, s.upscale_stabilization_period) == (300, 60)
    assert (s.max_downscale_factor, s.max_upscale_factor) == (0.75, 1.5)
    assert (s.downscale_tolerance, s.upscale_tolerance) == (0.05, 0.05)


def test_burst_scales_up_after_the_upscale_period_in_capped_steps_then_down_slowly():
    # 16 requests in flight for 8 ticks (needs 8 replicas at 2 each), then nothing.
    counts, decisions, _ = replay(FAST, [0, 0] + [16] * 8 + [0] * 14)
    assert counts == [
        1, 1,              # idle
        1, 1,              # burst: held while the history is shorter than the upscale period (20 s)
        2, 3, 5, 8,        # to the lowest recommendation of the last 20 s (3, then 6, then 8), in
                           # steps capped at max(n + 1, ceil(1.5 n))
        8, 8,
        8, 8, 8, 8, 8, 8,  # load gone: held until every recommendation of the last 60 s is lower
        6, 5, 4, 3, 2, 1,  # then down in steps capped at min(n - 1, ceil(0.75 n))
        1, 1,
    ]
    assert decisions[4].avg_in_flight == pytest.approx(16.0)
    assert decisions[4].upscale_stabilization_ceil == 3  # lowest of the last 20 s: ceil(16/3 / 2)


def test_ramp_follows_the_load_without_overshooting():
    # in-flight rises by 2 every tick: after the upscale period the count follows the lowest
    # recommendation of the last 20 s (ceil(window average / 2)), one replica per tick.
    counts, _, _ = replay(FAST, [2 * i for i in range(12)])
    assert counts == [1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8]
    assert all(b - a <= 1 for a, b in pairwise(counts))


def test_flapping_load_does_not_flap_the_replicas():
    # The load jumps between 2 and 10 in flight every tick: averaged over the window and held by
    # the downscale stabilization, the count settles and stays.
    counts, _, _ = replay(FAST, [10, 2] * 12)
    assert counts[-12:] == [counts[-1]] * 12
    changes = sum(1 for a, b in pairwise(counts) if a != b)
    assert changes <= 3, counts
    # Recommendations alternate 4 (mean 10, 2, 10) and 3 (mean 2, 10, 2): up to the lower, never down.
    assert counts[-1] == 3


def test_metrics_gap_holds_the_count_and_never_scales_down_on_missing_data():
    # Scaled to 4 under load; then no replica can be scraped for 5 ticks (longer than the window):
    # the count is held, not read as zero load.
    counts, decisions, _ = replay(FAST, [8] * 8 + [None] * 5 + [8] * 3, replicas=4)
    assert counts == [4] * 16
    assert decisions[10].note == "no metrics in the window: holding"
    # Some replicas unreadable while the ones read are idle: no scale-down either.
    counts, decisions, _ = replay(FAST, [8] * 8 + [(0, 3)] * 8, replicas=4)
    assert counts == [4] * 16
    assert "not scraped: no scale-down" in decisions[-1].note
    # ...but it can still scale up on what it reads.
    counts, _, _ = replay(FAST, [(20, 1)] * 6, replicas=4)
    assert counts[-1] > 4


def test_tolerance_ignores_small_changes():
    s = Settings(**{**FAST.__dict__, "max_replicas": 20, "upscale_tolerance": 0.2, "downscale_tolerance": 0.2})
    # 10 replicas; 21.0 in flight -> 10.5 replicas: within 20% above, no change; 17 -> 8.5: within 20% below.
    counts, _, _ = replay(s, [21] * 6, replicas=10)
    assert counts == [10] * 6
    counts, _, _ = replay(s, [17] * 10, replicas=10)
    assert counts == [10] * 10
    counts, _, _ = replay(s, [25] * 6, replicas=10)
    assert counts[-1] == 13


def test_bounds_always_hold():
    s = Settings(**{**FAST.__dict__, "min_replicas": 2, "max_replicas": 3})
    counts, _, _ = replay(s, [0] * 3 + [100] * 6 + [0] * 12, replicas=2)
    assert set(counts) <= {2, 3} and counts[8] == 3 and counts[-1] == 2
    # min_replicas 0 still keeps one replica: a replica is needed to measure the load.
    zero = Settings(**{**FAST.__dict__, "min_replicas": 0})
    counts, _, _ = replay(zero, [0] * 12)
    assert counts == [1] * 12


def test_history_survives_a_restart_through_json():
    # Stopping mid-burst and continuing from the serialized history gives the same sequence as
    # one run: the stabilization periods remember what happened before the restart.
    trace = [16] * 6 + [0] * 10
    whole, _, _ = replay(FAST, trace)
    first, _, saved = replay(FAST, trace[:6])
    restored = History.from_json(saved.to_json())
    rest, _, _ = replay(FAST, trace[6:], replicas=first[-1], history=restored, start=1_000_000.0 + 6 * TICK)
    assert first + rest == whole
    # A history forgotten (a fresh start) holds the count instead of scaling down at once.
    fresh, _, _ = replay(FAST, trace[6:], replicas=first[-1], start=1_000_000.0 + 6 * TICK)
    assert fresh[:6] == [first[-1]] * 6


def test_decision_describes_its_inputs():
    _, decisions, _ = replay(FAST, [16] * 4)
    line = decisions[-1].describe()
    assert line.startswith("1 -> 2") or line.startswith("2 -> 3")
    for name in ("avg_in_flight=16.0", "raw_recommendation=8.0", "upscale_stabilization_ceil=", "scraped=1"):
        assert name in line
