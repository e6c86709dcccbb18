"""Start the real runtime (`python -m mlserve.runtime`) on a free loopback port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "predictors"
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(proc: subprocess.Popen, url: str, timeout: float = 60, logs=lambda: "") -> None:
    """Until GET url/readyz answers 200; fails at once if `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the runtime exited with {proc.returncode}:\n{logs()}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"/readyz did not answer 200 within {timeout}s:\n{logs()}")


class Server:
    """One runtime process serving the API 't' of a cortex.yaml written into a temp folder."""

    def __init__(self, folder: Path, fixture: str, predictor: dict, api: dict) -> None:
        self.folder = folder
        shutil.copy(FIXTURES / fixture, folder / fixture)
        spec = {"name": "t", "predictor": {"path": fixture, **predictor}, **api}
        (folder / "cortex.yaml").write_text(yaml.safe_dump([spec]))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout = open(folder / "stdout.log", "w+")
        self.stderr = open(folder / "stderr.log", "w+")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlserve.runtime", "--spec", str(folder / "cortex.yaml"), "--api", "t",
             "--port", str(self.port)],
            stdout=self.stdout, stderr=self.stderr, env=env, cwd=folder,
        )
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def wait(self, path: str = "/readyz", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the runtime exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{path} did not answer 200 within {timeout}s:\n{self.logs()}")

    def logs(self) -> str:
        self.stdout.flush()
        self.stderr.flush()
        return (self.folder / "stdout.log").read_text() + (self.folder / "stderr.log").read_text()

    def stdout_line(self, needle: str, timeout: float = 10) -> str:
        """The first stdout line holding `needle` (access lines are written just after the response)."""
        deadline = time.monotonic() + timeout
        while True:
            for line in (self.folder / "stdout.log").read_text().splitlines():
                if needle in line:
                    return line
            assert time.monotonic() < deadline, f"no stdout line with {needle!r}:\n{self.logs()}"
            time.sleep(0.02)

    def stderr_text(self) -> str:
        return (self.folder / "stderr.log").read_text()

    def stop(self) -> int:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stdout.close()
        self.stderr.close()
        return self.proc.returncode


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
