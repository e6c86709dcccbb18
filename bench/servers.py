"""Servers under test as subprocesses on free 127.0.0.1 ports (own process: no shared GIL)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Variant:
    """How to start one server. `argv` may hold `{port}`; `path` is the URL path to POST to."""

    name: str
    argv: list[str]
    path: str
    env: dict[str, str] = field(default_factory=dict)
    stream: bool = False  # send Accept: text/event-stream
    note: str = ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(torch_threads: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every server gets: offline hub, deliberate thread counts, repo importable."""
    env = dict(os.environ)
    env.update({
        "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": str(torch_threads), "MKL_NUM_THREADS": str(torch_threads),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    })
    env.update(extra or {})
    return env


class Server:
    def __init__(self, variant: Variant, log_dir: Path):
        self.variant, self.port = variant, free_port()
        self.log_path = log_dir / f"{variant.name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.variant.path}"

    def start(self) -> None:
        argv = [a.replace("{port}", str(self.port)) for a in self.variant.argv]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                         env=self.variant.env, start_new_session=True)

    def wait_ready(self, payload: dict, timeout: float = 300.0, warmup: int = 10) -> None:
        """Poll with real requests until one succeeds, then warm up; raise with the log tail."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=60.0) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.variant.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    response = client.post(self.url, json=payload)
                    if response.status_code == 200:
                        break
                    error = f"HTTP {response.status_code}: {response.text[:300]}"
                except httpx.TransportError as exc:
                    error = repr(exc)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.variant.name} not ready after {timeout:.0f}s ({error}):\n"
                                       f"{self.log_tail()}")
                time.sleep(0.25)
            for _ in range(warmup):
                client.post(self.url, json=payload).raise_for_status()

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux /proc)."""
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def baseline(name: str, predictor: Path, class_name: str, config: dict, env: dict[str, str]) -> Variant:
    """B1: the hand-written FastAPI endpoint (bench/baseline_app.py)."""
    argv = [sys.executable, str(REPO / "bench" / "baseline_app.py"), "--predictor", str(predictor),
            "--class-name", class_name, "--config", json.dumps(config), "--port", "{port}"]
    return Variant(name, argv, "/predict", env, note="plain def endpoint, uvicorn defaults")


def mlserve(name: str, spec: Path, api: str, endpoint: str, env: dict[str, str], *,
            extra_args: tuple[str, ...] = (), stream: bool = False, note: str = "") -> Variant:
    """B2/B3: the mlserve runtime's own entrypoint for one API of `spec`."""
    argv = [sys.executable, "-m", "mlserve.runtime", "--spec", str(spec), "--api", api,
            "--host", "127.0.0.1", "--port", "{port}", *extra_args]
    return Variant(name, argv, endpoint, env, stream=stream, note=note)


def null_server(env: dict[str, str]) -> Variant:
    return Variant("L0", [sys.executable, str(REPO / "bench" / "null_server.py"), "{port}"], "/", env,
                   note="raw asyncio fixed reply: client + loopback floor")
