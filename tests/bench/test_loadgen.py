"""The benchmark's load generator: schedules, HTTP parsing, open-loop sending, statistics.

No timing assertions: open loop is shown by a server that answers nobody until it has every request.
"""

import asyncio

import pytest

from bench import loadgen, stats
from bench.loadgen import Sample


def test_uniform_schedule_is_exact():
    assert loadgen.schedule(4, 1.0, poisson=False) == [0.0, 0.25, 0.5, 0.75]


def test_poisson_schedule_is_reproducible_sorted_and_near_the_rate():
    a = loadgen.schedule(1000, 2.0, seed=7)
    assert a == loadgen.schedule(1000, 2.0, seed=7)
    assert a != loadgen.schedule(1000, 2.0, seed=8)
    assert a == sorted(a) and 0 < a[0] and a[-1] < 2.0
    assert 1800 < len(a) < 2200  # 2000 expected; sd ~45


def test_schedule_of_nothing():
    assert loadgen.schedule(0, 5) == [] and loadgen.schedule(10, 0) == []


def test_percentile_matches_linear_interpolation():
    assert stats.percentile([], 50) is None
    assert stats.percentile([3.0], 99) == 3.0
    assert stats.percentile([1, 2, 3, 4], 50) == 2.5
    assert stats.percentile(list(range(101)), 90) == 90
    assert stats.percentile([10, 0], 25) == 2.5


def _sample(intended, done, status=200, first=None):
    return Sample(intended=intended, sent=intended, done=done, status=status, first_event=first,
                  error=None if status == 200 else "timeout" if status == 0 else f"HTTP {status}: x")


def test_summarize_counts_errors_and_rates_only_successes():
    samples = [_sample(i * 0.1, i * 0.1 + 0.01, first=i * 0.1 + 0.004) for i in range(10)]
    samples += [_sample(0.5, 0.6, status=503), _sample(0.2, 0.9, status=0)]
    out = stats.summarize(samples, offered_rps=12)
    assert (out["n"], out["ok"]) == (12, 10)
    assert out["errors"] == {"503": 1, "timeout": 1}
    assert out["error_rate"] == pytest.approx(2 / 12, abs=1e-4)
    assert out["latency_ms"]["p50"] == pytest.approx(10.0)
    assert out["ttft_ms"]["p90"] == pytest.approx(4.0)
    assert out["achieved_rps"] == pytest.approx(10.0)  # 9 intervals over 0.9 s between first and last success


def test_achieved_rate_is_not_inflated_by_responses_finishing_together():
    batch_end = [_sample(i * 0.25, 1.05) for i in range(5)]  # sent over 1 s, answered at once
    assert stats.summarize(batch_end)["achieved_rps"] == pytest.approx(4.0)
    backlog = [_sample(i * 0.1, 1.0 + i * 0.5) for i in range(5)]  # server slower than the sends
    assert stats.summarize(backlog)["achieved_rps"] == pytest.approx(2.0)


def test_throughput_at_slo_takes_the_best_point_meeting_latency_and_errors():
    def point(rps, p90, err=0.0):
        return {"achieved_rps": rps, "error_rate": err, "latency_ms": {"p90": p90}}

    points = [point(10, 5), point(20, 9), point(40, 30), point(35, 8, err=0.2)]
    assert stats.throughput_at_slo(points, slo_ms=10) == 20
    assert stats.throughput_at_slo(points, slo_ms=1) is None
    assert stats.saturation_rps(points) == 40


def test_rounds_pool_latencies_but_take_the_median_rate():
    def round_at(t0, gap, n=5):  # n successes `gap` apart, 10 ms each, starting at t0
        return [_sample(t0 + i * gap, t0 + i * gap + 0.01) for i in range(n)]

    rounds = [round_at(0, 0.1), round_at(100, 0.05), round_at(200, 0.02)]
    out = stats.summarize_rounds(rounds, offered_rps=20)
    assert out["achieved_rps_by_round"] == [10.0, 20.0, 50.0]
    assert out["achieved_rps"] == 20.0  # not 14 successes over 200 s
    assert (out["n"], out["ok"]) == (15, 15)
    assert out["latency_ms"]["p50"] == pytest.approx(10.0)


async def _serve(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _read_request(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    return await reader.readexactly(length)


def test_open_loop_sends_without_waiting_for_responses():
    """The server holds every reply until all requests arrived: a closed-loop client would time out."""
    count = 12

    async def main():
        arrived, everyone = [], asyncio.Event()

        async def handler(reader, writer):
            while True:
                try:
                    body = await _read_request(reader)
                except asyncio.IncompleteReadError:
                    return
                arrived.append(body)
                if len(arrived) == count:
                    everyone.set()
                await everyone.wait()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        server, port = await _serve(handler)
        client = loadgen.Client("127.0.0.1", port, timeout=5.0)
        requests = [loadgen.build_request("127.0.0.1", port, "/p", b'{"i": %d}' % i) for i in range(3)]
        samples = await loadgen.open_loop(client, requests, loadgen.schedule(200, count / 200, poisson=False))
        client.close()
        server.close()
        return arrived, samples

    arrived, samples = asyncio.run(main())
    assert [s.status for s in samples] == [200] * count
    assert sorted(arrived) == sorted([b'{"i": %d}' % (i % 3) for i in range(count)])
    assert all(s.intended <= s.sent <= s.done for s in samples)


def test_chunked_event_stream_records_first_event_and_keeps_the_connection():
    async def main():
        connections = 0

        async def handler(reader, writer):
            nonlocal connections
            connections += 1
            while True:
                try:
                    await _read_request(reader)
                except asyncio.IncompleteReadError:
                    return
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
                for event in (b": ping\n\n", b"data: one\n\n", b"data: two\n\n"):
                    writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")

        server, port = await _serve(handler)
        client = loadgen.Client("127.0.0.1", port, timeout=5.0)
        request = loadgen.build_request("127.0.0.1", port, "/p", b"{}", stream=True)
        samples = await loadgen.closed_loop(client, [request], count=3)
        client.close()
        server.close()
        return samples, connections

    samples, connections = asyncio.run(main())
    assert [s.status for s in samples] == [200, 200, 200]
    assert all(s.first_event is not None and s.intended <= s.first_event <= s.done for s in samples)
    assert connections == 1  # keep-alive across the three streams


def test_error_status_and_timeouts_are_recorded_not_raised():
    async def main():
        async def handler(reader, writer):
            body = await _read_request(reader)
            if body == b"slow":
                await asyncio.sleep(5)
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")

        server, port = await _serve(handler)
        client = loadgen.Client("127.0.0.1", port, timeout=0.3)
        fast = await client.send(loadgen.build_request("127.0.0.1", port, "/", b"fast"), Sample(0.0))
        slow = await client.send(loadgen.build_request("127.0.0.1", port, "/", b"slow"), Sample(0.0))
        client.close()
        server.close()
        return fast, slow

    fast, slow = asyncio.run(main())
    assert (fast.status, fast.error) == (503, "HTTP 503: busy")
    assert (slow.status, slow.error) == (0, "timeout")
