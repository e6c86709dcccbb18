"""How long accepted requests wait under overload, as a multiple of a single request's latency.

    .venv/bin/python bench/overload_latency.py [--clients 32] [--seconds 10] [--sleep-ms 50]

Serves a predictor that sleeps `--sleep-ms` per call (one thread) with the default queue
(`predictor.max_queue_length` unset: 2 x threads_per_process) and with the old default (64).
For each: the single-request latency (median of sequential requests), then `--clients` closed-loop
clients for `--seconds` (a client turned away with 503 waits its Retry-After). Prints the latency
of the accepted (200) answers as p50/p99/max multiples of that run's single latency, and the
share of 503s. A script, not a test: the numbers depend on the machine; the ratios are the point.
"""

from __future__ import annotations

import argparse
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
        self.seconds = config["sleep_ms"] / 1000

    def predict(self, payload):
        time.sleep(self.seconds)
        return {"ok": True}
"""


def start(folder: Path, port: int, sleep_ms: float, queue: int | None) -> subprocess.Popen:
    predictor = {"path": "sleeper.py", "config": {"sleep_ms": sleep_ms}}
    if queue is not None:
        predictor["max_queue_length"] = queue
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


def measure(url: str, clients: int, seconds: float) -> tuple[float, list[float], int]:
    """One thread and one keep-alive connection per client (a shared async pool queues requests
    in the client itself, which would then be measured instead of the server)."""
    with httpx.Client(timeout=120) as client:
        single = []
        for _ in range(30):
            t = time.perf_counter()
            client.post(url, json={}).raise_for_status()
            single.append(time.perf_counter() - t)
    accepted: list[float] = []
    rejected = 0
    stop = time.monotonic() + seconds

    def run_client() -> None:
        nonlocal rejected
        with httpx.Client(timeout=120) as client:
            while time.monotonic() < stop:
                t = time.perf_counter()
                r = client.post(url, json={})
                if r.status_code == 200:
                    accepted.append(time.perf_counter() - t)
                else:  # as a well-behaved client does
                    rejected += 1
                    time.sleep(float(r.headers.get("retry-after", "1")))

    threads = [threading.Thread(target=run_client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statistics.median(single), accepted, rejected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sleep-ms", type=float, default=50)
    args = parser.parse_args()
    print(f"{args.clients} clients for {args.seconds:g}s against a {args.sleep_ms:g} ms predictor, 1 thread")
    print(f"{'queue':>16} {'single ms':>10} {'p50 x':>7} {'p99 x':>7} {'max x':>7} {'200s':>6} {'503 share':>10}")
    for name, queue in (("default (2)", None), ("64 (old default)", 64)):
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            proc = start(Path(tmp), port, args.sleep_ms, queue)
            try:
                single, accepted, rejected = measure(f"http://127.0.0.1:{port}/sleeper", args.clients, args.seconds)
            finally:
                proc.terminate()
                proc.wait(30)
        q = statistics.quantiles(accepted, n=100)
        print(f"{name:>16} {single * 1000:10.1f} {q[49] / single:7.1f} {q[98] / single:7.1f} "
              f"{max(accepted) / single:7.1f} {len(accepted):6d} {rejected / (rejected + len(accepted)):10.0%}")


if __name__ == "__main__":
    main()
