"""Serve the seed predictors for real: a project folder with a copy of predictors/ and a
cortex.yaml, one `python -m mlserve.runtime` process per API on a free loopback port."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_project(folder: Path, apis: list[dict]) -> Path:
    shutil.copytree(REPO / "predictors", folder / "predictors",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "cortex.yaml").write_text(yaml.safe_dump(apis, sort_keys=False))
    return folder


class API:
    """One API of the project, served by its own runtime process."""

    def __init__(self, project: Path, name: str) -> None:
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = project / f"{name}.log"
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlserve.runtime", "--spec", str(project / "cortex.yaml"), "--api", name,
             "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, cwd=project, env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        self.client = httpx.Client(base_url=self.url, timeout=120)

    def wait_ready(self, timeout: float) -> None:
        """Wait for /readyz; the first start of a GGUF model includes its conversion."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"{self.name} exited:\n{self.logs()}"
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} not ready within {timeout}s:\n{self.logs()}")

    def post(self, payload, **kw) -> httpx.Response:
        if isinstance(payload, (bytes, str)):
            return self.client.post("/" + self.name, content=payload, **kw)
        return self.client.post("/" + self.name, json=payload, **kw)

    def stream(self, payload) -> list[str]:
        """The `data:` items of a Server-Sent Events answer, until `event: end`."""
        items, ended = [], False
        with self.client.stream("POST", "/" + self.name, json=payload,
                                headers={"accept": "text/event-stream"}) as response:
            assert response.status_code == 200, response.read()
            for line in response.iter_lines():
                if line.startswith("data: "):
                    items.append(line[len("data: "):])
                ended = ended or line == "event: end"
        assert ended, items
        return items

    def logs(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def serve(project: Path, names: list[str], timeout: float = 600) -> dict[str, API]:
    apis = {name: API(project, name) for name in names}
    try:
        for api in apis.values():
            api.wait_ready(timeout)
    except BaseException:
        for api in apis.values():
            api.stop()
        raise
    return apis


def error_of(response: httpx.Response) -> str:
    return json.loads(response.content)["error"]
