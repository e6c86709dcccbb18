"""The AsyncAPI's cost and throughput, against the realtime path, in one run.

    .venv/bin/python bench/async_api.py                    # 2 rounds x 100 requests per path; 1000 items
    .venv/bin/python bench/async_api.py --requests 50 --items 300

1. Submit -> completed for a no-op predictor: POST to the AsyncAPI, then GET its record until it says
   completed (polled every millisecond), one item at a time; against a POST to the same predictor as a
   RealtimeAPI. Rounds alternate the two paths. Prints p50/p90 of each and the overhead.
2. 1000 items queued before the workers start, drained by 1 and then 2 local workers: items/s from
   the first record's `started` to the last one's `finished`, and a check that every item completed,
   once (the predictor logs each run; each item's attempts is 1).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench.servers import REPO, free_port, server_env
from bench.stats import percentile
from mlserve.asyncapi.records import Envelope, new_record
from mlserve.queues import open_queue, open_results

PREDICTOR = '''
import os


class Counted:
    """No work; each run appends its item's n to config.log (to count runs)."""

    def __init__(self, config):
        self.log = config["log"]

    def predict(self, payload):
        with open(self.log, "a") as f:
            f.write(f"{payload['n']}\\n")
        return {"ok": True}
'''


def project(folder: Path) -> Path:
    (folder / "counted.py").write_text(PREDICTOR)
    predictor = {"path": "counted.py", "config": {"log": str(folder / "runs.log")}}
    apis = [{"name": "noop", "predictor": predictor},
            {"name": "noop-async", "kind": "AsyncAPI", "predictor": predictor}]
    (folder / "cortex.yaml").write_text(yaml.safe_dump(apis))
    return folder / "cortex.yaml"


def start(argv: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(argv, env=server_env(1, {"PYTHONPATH": str(REPO)}), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, process_group=0)
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{argv} exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{argv} did not become ready")
        time.sleep(0.1)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def realtime_ms(http: httpx.Client, url: str, count: int) -> list[float]:
    out = []
    for n in range(count):
        started = time.perf_counter()
        assert http.post(url, json={"n": n}).status_code == 200
        out.append((time.perf_counter() - started) * 1000)
    return out


def async_ms(http: httpx.Client, url: str, count: int) -> list[float]:
    out = []
    for n in range(count):
        started = time.perf_counter()
        item = http.post(url, json={"n": n}).json()["id"]
        while http.get(f"{url}/{item}").json()["status"] != "completed":
            time.sleep(0.001)
        out.append((time.perf_counter() - started) * 1000)
    return out


def drain(spec: Path, folder: Path, items: int, workers: int) -> dict:
    """`items` queued first (as the gateway queues them), then the API started with `workers` workers."""
    store = f"sqlite://{folder / f'drain-{workers}.db'}"
    queue, results = open_queue(store), open_results(store)
    ids = [f"{workers}-{n:05d}" for n in range(items)]
    for item in ids:
        results.put(item, new_record(item))
        queue.put(item, Envelope(f'{{"n": "{item}"}}'.encode(), {"content-type": "application/json"}, {}).dumps())
    port = free_port()
    proc = start([sys.executable, "-m", "mlserve.asyncapi", "--spec", str(spec), "--api", "noop-async", "--port",
                  str(port), "--store", store, "--workers", str(workers)], port)
    try:
        while queue.counts().waiting + queue.counts().in_flight:
            time.sleep(0.05)
    finally:
        stop(proc)
    records = [results.get(item) for item in ids]
    runs = [line for line in (folder / "runs.log").read_text().splitlines() if line.startswith(f"{workers}-")]
    span = max(r["finished"] for r in records) - min(r["started"] for r in records)
    return {"workers": workers, "items_per_s": items / span,
            "completed": sum(r["status"] == "completed" for r in records),
            "attempts>1": sum(r.get("attempts", 0) > 1 for r in records),
            "runs": len(runs), "distinct_runs": len(set(runs))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--items", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mlserve-bench-async-"))
    try:
        spec = project(folder)
        rt_port, as_port = free_port(), free_port()
        realtime = start([sys.executable, "-m", "mlserve.runtime", "--spec", str(spec), "--api", "noop",
                          "--port", str(rt_port)], rt_port)
        gateway = start([sys.executable, "-m", "mlserve.asyncapi", "--spec", str(spec), "--api", "noop-async",
                         "--port", str(as_port), "--store", f"sqlite://{folder / 'latency.db'}"], as_port)
        rt, asy = [], []
        try:
            with httpx.Client(timeout=30) as http:
                realtime_ms(http, f"http://127.0.0.1:{rt_port}/noop", 20)  # warm both paths
                async_ms(http, f"http://127.0.0.1:{as_port}/noop-async", 20)
                for _ in range(args.rounds):
                    rt += realtime_ms(http, f"http://127.0.0.1:{rt_port}/noop", args.requests)
                    asy += async_ms(http, f"http://127.0.0.1:{as_port}/noop-async", args.requests)
        finally:
            stop(realtime)
            stop(gateway)
        print(f"submit -> completed vs realtime, no-op predictor, {len(rt)} requests each, one at a time:")
        for name, values in (("realtime POST", rt), ("async submit->completed", asy)):
            print(f"  {name:26s} p50 {percentile(values, 50):7.2f} ms   p90 {percentile(values, 90):7.2f} ms")
        for q in (50, 90):
            a, r = percentile(asy, q), percentile(rt, q)
            print(f"  overhead p{q}: +{a - r:.2f} ms ({a / r:.1f}x)")
        print(f"{args.items} queued items drained by local workers:")
        for workers in (1, 2):
            print("  " + "  ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in drain(spec, folder, args.items, workers).items()))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
