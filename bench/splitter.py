"""The traffic splitter's added latency: the same API called directly and through a splitter,
in alternating blocks of the same run, one request at a time (concurrency 1, keep-alive).

    .venv/bin/python bench/splitter.py               # 6 rounds x 300 requests per path
    .venv/bin/python bench/splitter.py --rounds 2 --requests 200

Two backends: L0 (a raw asyncio server with a fixed reply: the proxy's own cost, nothing else)
and the mlserve runtime serving the trivial predictor (what a user sees). The splitter routes
100 % to the backend so the two paths differ only by the hop. A third section times the HTTP
clients the proxy could use, in this process against L0 (why the splitter uses aiohttp).
Prints p50/p90 in ms per path and the added p50/p90; the target is <= 1 ms added at p50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench.loadgen import Client, Sample, build_request, closed_loop
from bench.servers import REPO, Server, Variant, mlserve, null_server, server_env
from bench.stats import percentile

BODY = b'{"text": "hello"}'


def splitter_variant(backend: Server, routes_dir: Path) -> Variant:
    routes = routes_dir / f"{backend.variant.name}.json"
    routes.write_text(json.dumps({"splitter": "split", "endpoint": "/split", "backends": [
        {"name": backend.variant.name, "url": backend.url, "weight": 100}]}))
    argv = [sys.executable, "-m", "mlserve.splitter", "--routes", str(routes), "--port", "{port}"]
    return Variant(f"{backend.variant.name}-via-splitter", argv, "/split", backend.variant.env)


def user_system_seconds(server: Server) -> tuple[float, float]:
    """The server process's user and system CPU time so far (Linux /proc)."""
    fields = open(f"/proc/{server.proc.pid}/stat").read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


async def c1_ms(server: Server, count: int) -> list[float]:
    client = Client("127.0.0.1", server.port)
    await client.warm(1)
    request = build_request("127.0.0.1", server.port, server.variant.path, BODY)
    samples: list[Sample] = await closed_loop(client, [request], count)
    client.close()
    bad = [s for s in samples if s.status != 200]
    if bad:
        raise RuntimeError(f"{server.variant.name}: {len(bad)} failed, e.g. {bad[0].error}")
    return [(s.done - s.sent) * 1000 for s in samples]


async def clients_ms(url: str, count: int) -> dict[str, list[float]]:
    """In-process: each client library sending to the same server, back to back."""
    out: dict[str, list[float]] = {}
    async with aiohttp.ClientSession() as session:
        times = []
        for _ in range(count):
            t = time.perf_counter()
            async with session.post(url, data=BODY) as r:
                await r.read()
            times.append((time.perf_counter() - t) * 1000)
        out["aiohttp"] = times
    async with httpx.AsyncClient() as client:
        times = []
        for _ in range(count):
            t = time.perf_counter()
            await client.post(url, content=BODY)
            times.append((time.perf_counter() - t) * 1000)
        out["httpx"] = times
    return out


def line(name: str, values: list[float]) -> str:
    return f"  {name:<24} p50 {percentile(values, 50):7.3f} ms   p90 {percentile(values, 90):7.3f} ms   (n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=300, help="per path per round")
    args = parser.parse_args()
    env = server_env(1)
    tmp = Path(tempfile.mkdtemp(prefix="mlserve-bench-splitter-"))
    servers: list[Server] = []
    try:
        pairs = []
        b2 = mlserve("B2", REPO / "bench" / "cortex.yaml", "noop", "/noop", env)
        for backend_variant in (null_server(env), b2):
            backend = Server(backend_variant, tmp)
            backend.start()
            servers.append(backend)
            backend.wait_ready({"text": "hello"})
            via = Server(splitter_variant(backend, tmp), tmp)
            via.start()
            servers.append(via)
            via.wait_ready({"text": "hello"})
            pairs.append((backend, via))
        results: dict[str, list[float]] = {}
        cpu: dict[str, tuple[float, float]] = {}
        for _ in range(args.rounds):
            for backend, via in pairs:  # alternate, so a slow moment of the machine hits both paths
                for server in (backend, via):
                    before = user_system_seconds(server)
                    results.setdefault(server.variant.name, []).extend(asyncio.run(c1_ms(server, args.requests)))
                    after, so_far = user_system_seconds(server), cpu.get(server.variant.name, (0.0, 0.0))
                    cpu[server.variant.name] = tuple(t + a - b for t, a, b in zip(so_far, after, before, strict=True))
        clients = asyncio.run(clients_ms(pairs[0][0].url, args.requests * 2))
    finally:
        for server in servers:
            server.stop()
    print(f"concurrency 1, keep-alive, {args.rounds} rounds x {args.requests} requests per path")
    for backend, via in pairs:
        direct, proxied = results[backend.variant.name], results[via.variant.name]
        print(line(backend.variant.name + " direct", direct))
        print(line(via.variant.name, proxied))
        added50 = percentile(proxied, 50) - percentile(direct, 50)
        added90 = percentile(proxied, 90) - percentile(direct, 90)
        verdict = "ok" if added50 <= 1.0 else "OVER TARGET"
        print(f"  {'added by the splitter':<24} p50 {added50:7.3f} ms   p90 {added90:7.3f} ms   "
              f"(target p50 <= 1 ms: {verdict})")
        # CPU time does not grow with the machine's load the way waiting for a CPU does.
        # CPU per request does not include waiting for a CPU; the API's own figure is the yardstick.
        for label, server, n in (("API CPU per request", backend, len(direct)),
                                 ("splitter CPU per request", via, len(proxied))):
            user, system = (seconds / n * 1e6 for seconds in cpu[server.variant.name])
            print(f"  {label:<24} {user:7.0f} us user + {system:.0f} us system")
    print("proxy client candidates, in-process against L0:")
    for name, values in clients.items():
        print(line(name, values))
    load = os.getloadavg()[0]
    print(f"logs: {tmp}; load average {load:.1f} on {os.cpu_count()} CPUs"
          + ("  (busy machine: latencies include waiting for a CPU)" if load > (os.cpu_count() or 1) else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
