"""Jobs vs a client loop, same run: `python bench/jobs.py [--items 2000] [--batch-size 20] [--work-ms 0]`.

Deploys (locally, in a temporary folder) a BatchAPI and a RealtimeAPI whose predictors spend
`--work-ms` per item waiting (as on a remote call; 0: they do nothing), then measures: a job of N
items with 1 and with 2 workers (submission to `succeeded`), and a client loop POSTing the same
items one by one to the realtime API. Prints items/s for each, time per batch or request, and the
speed against the client loop. With no work the job's time is its overhead (worker start, queue);
with work, 2 workers can take up to half the time of 1.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx

from mlserve.deploy.local.backend import LocalBackend
from mlserve.jobs.store import TERMINAL
from mlserve.spec import load_project

SPEC = """
- name: noop-batch
  kind: BatchAPI
  predictor: {{path: noop.py, class_name: Batch, config: {{work_ms: {work_ms}}}}}
- name: noop
  predictor: {{path: noop.py, class_name: Realtime, config: {{work_ms: {work_ms}}}}}
"""
CODE = """
import time


class Batch:
    def __init__(self, config, job_spec):
        self.work = config["work_ms"] / 1000

    def predict(self, payload, batch_id):
        time.sleep(self.work * len(payload))


class Realtime:
    def __init__(self, config):
        self.work = config["work_ms"] / 1000

    def predict(self, payload):
        time.sleep(self.work)
        return payload
"""


def run_job(url: str, items: list, batch_size: int, workers: int) -> float:
    started = time.perf_counter()
    job = httpx.post(url, json={"workers": workers, "item_list": {"items": items, "batch_size": batch_size}},
                     timeout=60).json()["job_id"]
    while True:
        record = httpx.get(url, params={"jobID": job}, timeout=30).json()
        if record["status"] in TERMINAL:
            assert record["status"] == "succeeded", record
            return time.perf_counter() - started
        time.sleep(0.05)


def client_loop(url: str, items: list) -> float:
    started = time.perf_counter()
    with httpx.Client(timeout=30) as http:
        for item in items:
            http.post(url, json={"item": item}).raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--work-ms", type=float, default=0, help="time each item takes (a wait, not CPU)")
    args = parser.parse_args()
    items = list(range(args.items))
    batches = -(-args.items // args.batch_size)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "cortex.yaml").write_text(SPEC.format(work_ms=args.work_ms))
        (Path(folder) / "noop.py").write_text(CODE)
        backend = LocalBackend.for_project(Path(folder) / "cortex.yaml", grace=5)
        backend.deploy(load_project(Path(folder) / "cortex.yaml"), lambda _: None)
        try:
            rows = [(f"job, {w} worker{'s' if w > 1 else ''}", run_job(backend.endpoint("noop-batch"), items,
                                                                         args.batch_size, w), batches)
                    for w in (1, 2)]
            rows.append(("client loop -> realtime no-op", client_loop(backend.endpoint("noop"), items), args.items))
        finally:
            backend.delete(None, lambda _: None)
    loop = rows[-1][1]
    print(f"{args.items} items, batch_size {args.batch_size} ({batches} batches), {args.work_ms:g} ms of work an item")
    for name, seconds, units in rows:
        print(f"{name:32s} {seconds:7.2f}s  {args.items / seconds:8.0f} items/s  "
              f"{seconds / units * 1000:7.1f} ms per {'batch' if units == batches else 'request'}  "
              f"x{loop / seconds:.2f} the client loop's speed")


if __name__ == "__main__":
    main()
