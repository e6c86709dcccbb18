"""One round of one variant: sequential requests, then the open-loop load ladder.

Samples are pooled over rounds (`Record`) and summarised at the end. Garbage collection is
paused while a point runs so the client's own pauses do not land in the latencies.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from dataclasses import dataclass, field

from bench import loadgen, plan, stats
from bench.loadgen import Client, Sample
from bench.servers import Server


@dataclass
class Record:
    """Everything measured for one variant, pooled over rounds."""

    c1: list[Sample] = field(default_factory=list)
    stream_c1: list[Sample] = field(default_factory=list)
    points: dict[float, list[list[Sample]]] = field(default_factory=dict)  # rate -> one list per round
    client_cpu_us: dict[float, list[float]] = field(default_factory=dict)  # load generator CPU per request
    server_cpu_us: dict[float, list[float]] = field(default_factory=dict)  # server CPU per request
    c1_p50_by_round: list[float] = field(default_factory=list)
    stopped_at: list[float] = field(default_factory=list)  # rate at which a round's ladder stopped


class paused_gc:
    def __enter__(self):
        gc.collect()  # cheap after gc.freeze() (run.py freezes the loaded models)
        gc.disable()

    def __exit__(self, *exc):
        gc.enable()


def saturated(summary: dict, slo_ms: float) -> bool:
    """Past the knee: errors, falling behind the offered rate, or far over the SLO."""
    p90 = summary["latency_ms"]["p90"]
    return ((summary["error_rate"] or 0) > 0.05
            or (summary["achieved_rps"] or 0) < 0.8 * summary["offered_rps"]
            or p90 is None or p90 > 5 * slo_ms)


async def run_variant(server: Server, group: plan.Group, record: Record, round_no: int, slo_ms: float) -> None:
    host, port, path = "127.0.0.1", server.port, server.variant.path
    bodies = [json.dumps(p).encode() for p in group.payloads]
    requests = [loadgen.build_request(host, port, path, b) for b in bodies]
    client = Client(host, port, timeout=group.timeout)
    try:
        await client.warm(4)
        with paused_gc():
            samples = await loadgen.closed_loop(client, requests, group.c1_count)
        record.c1.extend(samples)
        c1 = stats.summarize(samples)
        record.c1_p50_by_round.append(c1["latency_ms"]["p50"])
        if server.variant.name in group.stream_on:
            streams = [loadgen.build_request(host, port, path, b, stream=True) for b in bodies]
            with paused_gc():
                record.stream_c1.extend(await loadgen.closed_loop(client, streams, max(4, group.c1_count // 2)))
        single_s = (c1["latency_ms"]["p50"] or 1) / 1000
        for i, rate in enumerate(group.ladder):
            offsets = loadgen.schedule(rate, plan.point_duration(group, rate), seed=1000 * round_no + i)
            await client.warm(plan.expected_in_flight(rate, single_s))
            with paused_gc():
                cpu, server_cpu = time.process_time(), server.cpu_seconds()
                samples = await loadgen.open_loop(client, requests, offsets)
                cpu = time.process_time() - cpu
            record.client_cpu_us.setdefault(rate, []).append(cpu / len(offsets) * 1e6)
            record.server_cpu_us.setdefault(rate, []).append((server.cpu_seconds() - server_cpu) / len(offsets) * 1e6)
            record.points.setdefault(rate, []).append(samples)
            await asyncio.sleep(0.2)  # let the server finish anything abandoned
            if saturated(stats.summarize(samples, rate), slo_ms):
                record.stopped_at.append(rate)
                break
    finally:
        client.close()
