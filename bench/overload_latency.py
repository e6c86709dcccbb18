"""Admission under load: the default (a waiting-time budget) against count-bounded and unbounded
queues, in one run.

    .venv/bin/python bench/overload_latency.py [--seconds 10] [--sleep-ms 50]

For each setting, a runtime serving a predictor that sleeps `--sleep-ms` per call (one thread):
1. capacity: 4 closed-loop clients, no overload: req/s (every answer must be 200);
2. the 2x open-loop overload drill: requests arrive at twice that rate whatever the answers
   (a client that does not back off); accepted p90 against the budget plus one service time,
   goodput (200s per second) against the capacity, how fast a 503 comes back and the Retry-After
   it carries against the wait the accepted requests really had;
3. a steady 8 closed-loop clients on a 100 ms predictor: errors must be 0 (the issue's rule: the
   default budget must admit them).
A script, not a test: the numbers depend on the machine; the ratios within one run are the point.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import yaml

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script
from bench.servers import REPO, free_port  # noqa: E402

PREDICTOR = """
import time

class Sleeper:
    def __init__(self, config):
        pass

    def predict(self, payload):
        time.sleep(payload["ms"] / 1000)
        return {"ok": True}
"""

# name -> predictor fields: the default, the count-bounded default it replaced, an unbounded queue
SETTINGS = {
    "default (max_queue_wait 2s)": {},
    "max_queue_wait 1s": {"max_queue_wait": "1s"},
    "count: max_queue_length 2": {"max_queue_length": 2, "max_queue_wait": 3600},
    "unbounded": {"max_queue_wait": 3600},
}


def start(folder: Path, port: int, fields: dict) -> subprocess.Popen:
    predictor = {"path": "sleeper.py", **fields}
    (folder / "sleeper.py").write_text(PREDICTOR)
    (folder / "cortex.yaml").write_text(yaml.safe_dump([{"name": "sleeper", "predictor": predictor}]))
    proc = subprocess.Popen([sys.executable, "-m", "mlserve.runtime", "--spec", str(folder / "cortex.yaml"),
                             "--api", "sleeper", "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the runtime did not become ready")


def closed_loop(url: str, ms: float, clients: int, seconds: float) -> tuple[int, int, list[float]]:
    """(200s, others, latencies of the 200s): one thread and keep-alive connection per client."""
    ok: list[float] = []
    others = 0
    stop = time.monotonic() + seconds

    def run_client() -> None:
        nonlocal others
        with httpx.Client(timeout=120) as client:
            while time.monotonic() < stop:
                t = time.perf_counter()
                r = client.post(url, json={"ms": ms})
                if r.status_code == 200:
                    ok.append(time.perf_counter() - t)
                else:
                    others += 1
                    time.sleep(float(r.headers.get("retry-after", "1")))  # as a well-behaved client does

    threads = [threading.Thread(target=run_client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(ok), others, ok


async def open_loop(url: str, ms: float, rate: float, seconds: float) -> dict:
    """Send at `rate` per second for `seconds`, whatever the answers; returns what came back."""
    accepted: list[float] = []
    refused: list[tuple[float, float]] = []  # (latency, Retry-After)
    errors = 0
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        async def one() -> None:
            nonlocal errors
            t = time.perf_counter()
            try:
                r = await client.post(url, json={"ms": ms})
            except httpx.HTTPError:
                errors += 1
                return
            took = time.perf_counter() - t
            if r.status_code == 200:
                accepted.append(took)
            elif r.status_code == 503:
                refused.append((took, float(r.headers.get("retry-after", "nan"))))
            else:
                errors += 1

        tasks = []
        began = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    # until the last answer: an unbounded queue serves everything, only late
    return {"accepted": accepted, "refused": refused, "errors": errors, "seconds": time.perf_counter() - began}


def p(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sleep-ms", type=float, default=50)
    args = parser.parse_args()
    ms = args.sleep_ms
    print(f"predictor: sleeps {ms:g} ms, 1 thread; overload = open loop at 2x capacity for {args.seconds:g}s")
    print(f"{'setting':>28} | {'capacity/s':>10} | {'goodput/s':>9} {'ratio':>6} {'acc p50':>8} {'acc p90':>8} "
          f"{'503s':>5} {'503 p90':>8} {'Retry-After':>11} | {'8x100ms: ok':>11} {'errors':>6}")
    for name, fields in SETTINGS.items():
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            proc = start(Path(tmp), port, fields)
            url = f"http://127.0.0.1:{port}/sleeper"
            try:
                closed_loop(url, ms, 1, 1)  # warm up: the service time is measured
                done, others, _ = closed_loop(url, ms, 4, args.seconds / 2)
                capacity = done / (args.seconds / 2)
                drill = asyncio.run(open_loop(url, ms, 2 * capacity, args.seconds))
                steady_ok, steady_errors, _ = closed_loop(url, 100, 8, args.seconds / 2)
            finally:
                proc.terminate()
                proc.wait(30)
        accepted, refused = drill["accepted"], drill["refused"]
        goodput = len(accepted) / drill["seconds"]
        retry = statistics.median([r for _, r in refused]) if refused else float("nan")
        print(f"{name:>28} | {capacity:10.1f} | {goodput:9.1f} {goodput / capacity:6.0%} "
              f"{p(accepted, 50) * 1000:7.0f}ms {p(accepted, 90) * 1000:7.0f}ms {len(refused):5d} "
              f"{p([t for t, _ in refused], 90) * 1000:7.1f}ms {retry:10.0f}s | {steady_ok:11d} "
              f"{steady_errors + drill['errors'] + others:6d}")
    print("targets: goodput >= 95% of capacity; accepted p90 <= max_queue_wait + one service time "
          f"({2000 + ms:g} ms for the default); 503s fast; 8 clients on 100 ms: 0 errors")


if __name__ == "__main__":
    main()
