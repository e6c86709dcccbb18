"""Locally, one AsyncAPI is one process (`python -m mlserve.asyncapi`): the gateway, serving HTTP,
and the worker subprocesses it starts and restarts (with backoff) for as long as it runs.

    python -m mlserve.asyncapi --spec S --api A --host H --port P --workers N --store sqlite:///abs/q.db

`--store` is the queue's and the records' URL (one SQLite file locally); it is handed to the gateway
and the workers through the environment, as on a cluster. The workers share the process group of
the launcher, so the local supervisor's kill of the group takes them too; a worker whose launcher
died stops by itself (worker.py). It is ready (/readyz) once the predictor class is imported and a
worker has loaded the predictor; it exits 3 if a worker's predictor fails to load before any was ready.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from mlserve.contract import env

log = logging.getLogger("mlserve.asyncapi")
EXIT_USAGE, EXIT_PREDICTOR, EXIT_PORT_TAKEN = 2, 3, 4
MAX_BACKOFF_S = 30.0
STOP_GRACE_S = 10.0


class Workers:
    """N worker subprocesses, each restarted when it exits, until `stop`."""

    def __init__(self, spec: str, api: str, count: int, ready_dir: Path) -> None:
        self.command = [sys.executable, "-m", "mlserve.asyncapi.worker", "--spec", spec, "--api", api]
        self.count, self.ready_dir = count, ready_dir
        self.procs: list[subprocess.Popen | None] = [None] * count
        self.stopping = threading.Event()
        self.ever_ready = False

    def start(self) -> None:
        for slot in range(self.count):
            threading.Thread(target=self._keep, args=(slot,), name=f"worker-{slot}", daemon=True).start()

    def ready(self) -> bool:
        up = any(p is not None and p.poll() is None and (self.ready_dir / str(p.pid)).exists() for p in self.procs)
        self.ever_ready = self.ever_ready or up
        return up

    def _keep(self, slot: int) -> None:
        failures = 0
        while not self.stopping.is_set():
            proc = self.procs[slot] = subprocess.Popen(self.command, stdin=subprocess.DEVNULL)
            code = proc.wait()
            if self.stopping.is_set():
                return
            was_ready = (self.ready_dir / str(proc.pid)).exists()
            if code == EXIT_PREDICTOR and not was_ready and not (self.ever_ready or self.ready()):
                log.error("the predictor failed to load in a worker; stopping")
                self.stop()
                os._exit(EXIT_PREDICTOR)  # the supervisor reports it, as for a RealtimeAPI
            failures = 0 if was_ready else failures + 1
            delay = min(2.0 ** failures, MAX_BACKOFF_S) if failures else 0.5
            log.warning("worker %d (pid %d) exited with code %s; restarting in %.1fs", slot, proc.pid, code, delay)
            self.stopping.wait(delay)

    def stop(self) -> None:
        """SIGTERM (a worker finishes its item), then SIGKILL after the grace period."""
        self.stopping.set()
        live = [p for p in self.procs if p is not None and p.poll() is None]
        for p in live:
            p.terminate()
        for p in live:
            try:
                p.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                p.kill()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlserve.asyncapi",
                                     description="Run one AsyncAPI locally: its gateway and its workers.")
    parser.add_argument("--spec", required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=None, help="default: the spec's queue.workers")
    parser.add_argument("--store", default=None, help=f"queue and records URL [env {env.ASYNC_QUEUE}]")
    args = parser.parse_args(argv)
    if args.store:
        os.environ[env.ASYNC_QUEUE] = os.environ[env.ASYNC_RESULTS] = args.store
    # Before prometheus_client is imported: the gateway and the workers then share their metrics.
    metrics_dir = tempfile.mkdtemp(prefix=f"mlserve-async-{args.api}-")
    ready_dir = Path(metrics_dir) / "ready"
    ready_dir.mkdir()
    os.environ.update({"PROMETHEUS_MULTIPROC_DIR": metrics_dir, env.ASYNC_READY_DIR: str(ready_dir)})
    try:
        return _run(args, metrics_dir, ready_dir)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _run(args, metrics_dir: str, ready_dir: Path) -> int:
    from mlserve.asyncapi.gateway import Gateway, serve
    from mlserve.asyncapi.records import load, stores
    from mlserve.errors import MlserveError
    from mlserve.logs import configure

    configure(args.api)
    try:
        project, api = load(args.spec, args.api)
        queue, results = stores()
    except MlserveError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        sock = _bind(args.host, args.port)
    except OSError as e:
        print(f"error: cannot listen on {args.host}:{args.port}: {e.strerror} (another program holds the port)",
              file=sys.stderr)
        return EXIT_PORT_TAKEN
    os.chdir(project.root)
    workers = Workers(str(project.file), api.name, args.workers or api.queue.workers, ready_dir)
    gateway = Gateway(project.root, api, queue, results, metrics_dir,
                      on_load_failure=lambda: os._exit(EXIT_PREDICTOR), ready=workers.ready)
    workers.start()
    for sig in (signal.SIGTERM, signal.SIGINT):  # uvicorn's handlers replace these while it serves
        signal.signal(sig, lambda *_: None)
    try:
        serve(gateway, args.host, args.port, sock)
    finally:
        workers.stop()
    return 0
