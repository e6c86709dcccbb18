"""Many models behind one API: a Zipf workload over 20 small models with cache_size 4.

    python bench/multi_model.py [--requests 400] [--models 20] [--cache-size 4]

One runtime process serves 20 models from S3 (moto's server on 127.0.0.1, started here) with
cache_size 4 and disk_cache_size 8. Each request is classed by the level that answered it (the
runtime's mlserve_model_cache_lookups counter, read after every request): memory hit, disk hit
(in the model cache, loaded again), cold (downloaded, then loaded). Printed: p50/p90 per level;
the multi-model process's peak RSS against 20 x the peak RSS of one one-model runtime serving one
model (the proxy for 20 one-model APIs: the same process, 1 model); and the non-2xx answers while
a new version of the hottest model rolls in under a steady request loop (target 0).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from loopback import free_port  # noqa: E402

LOOKUP = re.compile(r'mlserve_model_cache_lookups_total\{api="zoo",level="(\w+)"\} ([0-9.]+)')


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{url}: the process exited"
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer in {timeout}s")


def upload(s3, model: str, version: int, seed: int) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.random.default_rng(seed).standard_normal((256, 256), dtype=np.float32))
    s3.put_object(Bucket="zoo", Key=f"models/{model}/{version}/weights.npy", Body=buffer.getvalue())


def runtime(folder: Path, source: dict, env: dict) -> tuple[subprocess.Popen, str]:
    (folder / "predictor.py").write_text((REPO / "bench" / "predictors" / "multi_model.py").read_text())
    spec = [{"name": "zoo", "predictor": {"path": "predictor.py", "threads_per_process": 4,
                                          "multi_model_reloading": {**source, "watch_interval": "500ms"}}}]
    (folder / "cortex.yaml").write_text(yaml.safe_dump(spec))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlserve.runtime", "--spec", str(folder / "cortex.yaml"),
                             "--api", "zoo", "--port", str(port)], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/readyz", proc)
    return proc, url


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def lookups(client: httpx.Client) -> dict[str, float]:
    return {level: float(n) for level, n in LOOKUP.findall(client.get("/metrics").text)}


def pct(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q) * 1000:.1f}" if values else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--cache-size", type=int, default=4)
    args = parser.parse_args()

    import boto3

    work = Path(tempfile.mkdtemp(prefix="bench-multi-model-"))
    moto_port = free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "PYTHONPATH": str(REPO), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
           "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
           "MLSERVE_MODEL_CACHE": str(work / "cache"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    procs: list[subprocess.Popen] = [moto]
    try:
        wait_http(env["AWS_ENDPOINT_URL"] + "/moto-api/data.json", moto)
        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="bench",
                          aws_secret_access_key="bench", region_name="us-east-1")
        s3.create_bucket(Bucket="zoo")
        names = [f"m{i:02d}" for i in range(args.models)]
        for i, name in enumerate(names):
            upload(s3, name, 1, i)

        (work / "many").mkdir()
        proc, url = runtime(work / "many", {"dir": "s3://zoo/models", "cache_size": args.cache_size,
                                             "disk_cache_size": 2 * args.cache_size}, env)
        procs.append(proc)
        rng = np.random.default_rng(0)
        weights = 1 / np.arange(1, args.models + 1) ** 1.1  # Zipf, s = 1.1
        picks = rng.choice(args.models, size=args.requests, p=weights / weights.sum())
        by_level: dict[str, list[float]] = {"memory": [], "disk": [], "cold": []}
        with httpx.Client(base_url=url, timeout=60) as client:
            before = lookups(client)
            for i in picks:
                started = time.perf_counter()
                response = client.post("/zoo", json={}, params={"model": names[i]})
                seconds = time.perf_counter() - started
                assert response.status_code == 200, response.text
                after = lookups(client)
                level = next((k for k in after if after[k] > before.get(k, 0)), "memory")
                by_level[level].append(seconds)
                before = after
            many_rss = peak_rss_mb(proc.pid)

            # A new version of the hottest model rolls in under a steady loop.
            codes: list[int] = []
            stop = threading.Event()

            def loop() -> None:
                with httpx.Client(base_url=url, timeout=60) as c:
                    while not stop.is_set():
                        codes.append(c.post("/zoo", json={}, params={"model": names[0]}).status_code)

            worker = threading.Thread(target=loop)
            worker.start()
            time.sleep(1)
            upload(s3, names[0], 2, 1000)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                models = {m["name"]: m for m in client.get("/models").json()["models"]}
                if 2 in models[names[0]]["in_memory"]:
                    break
                time.sleep(0.2)
            time.sleep(1)
            stop.set()
            worker.join()

        (work / "one").mkdir()
        single, single_url = runtime(work / "one", {"path": f"s3://zoo/models/{names[1]}"}, env)
        procs.append(single)
        with httpx.Client(base_url=single_url, timeout=60) as client:
            for _ in range(50):
                client.post("/zoo", json={}, params={"model": names[1]}).raise_for_status()
        one_rss = peak_rss_mb(single.pid)

        print(f"Zipf(1.1) over {args.models} models, cache_size {args.cache_size}, "
              f"disk_cache_size {2 * args.cache_size}, {args.requests} requests, 256x256 float32 each")
        print(f"{'level':<8} {'n':>5} {'p50 ms':>8} {'p90 ms':>8}")
        for level, values in by_level.items():
            print(f"{level:<8} {len(values):>5} {pct(values, 50):>8} {pct(values, 90):>8}")
        print(f"peak RSS: one multi-model runtime {many_rss:.0f} MB; one one-model runtime {one_rss:.0f} MB, "
              f"x{args.models} = {one_rss * args.models:.0f} MB (proxy for {args.models} one-model APIs); "
              f"ratio {many_rss / (one_rss * args.models):.2f}")
        refused = sum(1 for c in codes if c >= 300)
        print(f"version roll-in under a steady loop: {len(codes)} requests, {refused} non-2xx")
        return 0 if refused == 0 else 1
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
