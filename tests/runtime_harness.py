"""Start the real runtime (`python -m mlserve.runtime`) on a free loopback port: one process per API
of a cortex.yaml, its stdout and stderr kept in files beside it.

`serve_fixture` serves one predictor of tests/fixtures/predictors as the API 't'; `make_project` and
`serve` serve the seed predictors of predictors/ (a copy) as the repository's example does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from loopback import free_port

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "predictors"
REPO = Path(__file__).resolve().parents[1]


class Runtime:
    """One runtime process serving the API `name` of `spec`; it runs in the spec's folder."""

    def __init__(self, spec: Path, name: str, *, logs: Path | None = None, timeout: float = 30) -> None:
        self.folder, self.name, self.port = spec.parent, name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout_path = (logs or self.folder) / f"{name}.stdout.log"
        self.stderr_path = (logs or self.folder) / f"{name}.stderr.log"
        self.stdout = open(self.stdout_path, "w+")
        self.stderr = open(self.stderr_path, "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlserve.runtime", "--spec", str(spec), "--api", name, "--port", str(self.port)],
            stdout=self.stdout, stderr=self.stderr, cwd=self.folder, env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        self.client = httpx.Client(base_url=self.url, timeout=timeout)

    def wait(self, path: str = "/readyz", timeout: float = 60) -> None:
        """Until GET `path` answers 200 (a GGUF model's first start includes its conversion);
        fails at once if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the runtime of {self.name} exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{path} of {self.name} did not answer 200 within {timeout}s:\n{self.logs()}")

    def post(self, payload, **kw) -> httpx.Response:
        """POST to /<name>: bytes and str as they are, anything else as JSON."""
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
        for log in (self.stdout, self.stderr):
            if not log.closed:  # also readable after stop()
                log.flush()
        return self.stdout_path.read_text() + self.stderr_path.read_text()

    def stdout_line(self, needle: str, timeout: float = 10) -> str:
        """The first stdout line holding `needle` (access lines are written just after the response)."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.stdout_path.read_text().splitlines():
                if needle in line:
                    return line
            assert time.monotonic() < deadline, f"no stdout line with {needle!r}:\n{self.logs()}"
            time.sleep(0.02)

    def stderr_text(self) -> str:
        return self.stderr_path.read_text()

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


def serve_fixture(folder: Path, fixture: str, predictor: dict, api: dict) -> Runtime:
    """The predictor file `fixture` as the API 't' (more predictor and api settings given), started."""
    shutil.copy(FIXTURES / fixture, folder / fixture)
    spec = {"name": "t", "predictor": {"path": fixture, **predictor}, **api}
    (folder / "cortex.yaml").write_text(yaml.safe_dump([spec]))
    return Runtime(folder / "cortex.yaml", "t")


def make_project(folder: Path, apis: list[dict]) -> Path:
    """A project folder with a copy of the seed predictors and a cortex.yaml listing `apis`."""
    shutil.copytree(REPO / "predictors", folder / "predictors", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "cortex.yaml").write_text(yaml.safe_dump(apis, sort_keys=False))
    return folder


def serve(project: Path, names: list[str], timeout: float = 600) -> dict[str, Runtime]:
    """The named APIs of the project, each in its own runtime, all ready (or all stopped)."""
    apis = {name: Runtime(project / "cortex.yaml", name, timeout=120) for name in names}
    try:
        for api in apis.values():
            api.wait(timeout=timeout)
    except BaseException:
        for api in apis.values():
            api.stop()
        raise
    return apis


def error_of(response: httpx.Response) -> str:
    return json.loads(response.content)["error"]


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
