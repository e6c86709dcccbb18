"""Serving overhead of this tree against another revision, same machine, same run.

    .venv/bin/python bench/overhead.py [--base main] [--requests 3000] [--api noop]

Serves the trivial predictor (`bench/cortex.yaml` API `noop`, or `noop-batched`) with
`python -m mlserve.runtime` twice: from this working tree, and from `--base` (a git revision,
exported to a temporary folder). One keep-alive client sends requests one at a time, alternating
between the two servers, so a slow moment of the machine lands on both. Prints p50/p90/p99 of
each, and the ratio this tree / base: a change to the request path shows there.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.servers import free_port  # noqa: E402
from bench.stats import percentile  # noqa: E402

BODY = json.dumps({"text": "hello"}).encode()
HEADERS = {"content-type": "application/json"}


def export(revision: str, folder: Path) -> Path:
    """The files of `revision` in `folder` (git archive: what the revision holds, nothing untracked)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision], check=True, capture_output=True).stdout
    tar = folder / "tree.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(folder / "tree", filter="data")
    return folder / "tree"


def serve(tree: Path, api: str, log: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mlserve.runtime", "--spec", str(tree / "bench" / "cortex.yaml"),
                                 "--api", api, "--port", str(port)], cwd=tree, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    return proc, port


def wait_ready(proc: subprocess.Popen, port: int, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"not ready after {timeout:.0f}s:\n{log.read_text()[-2000:]}")


def timed(conn: http.client.HTTPConnection, path: str) -> float:
    started = time.perf_counter()
    conn.request("POST", path, BODY, HEADERS)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise SystemExit(f"HTTP {response.status} from {path}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="main", help="the git revision to compare with (default main)")
    parser.add_argument("--requests", type=int, default=3000, help="requests to each server (default 3000)")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--api", default="noop", choices=["noop", "noop-batched"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlserve-overhead-") as tmp:
        folder = Path(tmp)
        trees = {"base": export(args.base, folder), "this": REPO}
        servers = {name: serve(tree, args.api, folder / f"{name}.log") for name, tree in trees.items()}
        try:
            for name, (proc, port) in servers.items():
                wait_ready(proc, port, folder / f"{name}.log")
            conns = {name: http.client.HTTPConnection("127.0.0.1", port) for name, (_, port) in servers.items()}
            path = f"/{args.api}"
            for _ in range(args.warmup):
                for conn in conns.values():
                    timed(conn, path)
            samples: dict[str, list[float]] = {name: [] for name in conns}
            for i in range(args.requests):
                order = list(conns) if i % 2 else list(reversed(conns))  # who goes first alternates
                for name in order:
                    samples[name].append(timed(conns[name], path))
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(30)
    print(f"{args.api}, {args.requests} requests each, one at a time, keep-alive (ms)")
    stats = {name: {q: percentile(s, q) * 1000 for q in (50, 90, 99)} for name, s in samples.items()}
    for name, row in stats.items():
        label = f"{args.base}" if name == "base" else "this tree"
        print(f"  {label:>12}: p50 {row[50]:.3f}  p90 {row[90]:.3f}  p99 {row[99]:.3f}")
    print("  this / base: " + "  ".join(f"p{q} {stats['this'][q] / stats['base'][q]:.3f}" for q in (50, 90, 99)))


if __name__ == "__main__":
    main()
