"""Real AsyncAPI processes (`python -m mlserve.asyncapi`: gateway + worker subprocesses) on a loopback
port, over a project in a temporary folder whose predictors are tests/fixtures/predictors/async_jobs.py."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from loopback import free_port

FIXTURE = Path(__file__).parents[1] / "fixtures" / "predictors" / "async_jobs.py"
REPO = Path(__file__).parents[2]


def write_project(folder: Path, *entries: dict) -> Path:
    """A cortex.yaml of AsyncAPIs `entries` (each: name, class_name, and any other fields)."""
    shutil.copyfile(FIXTURE, folder / "async_jobs.py")
    apis = [{"kind": "AsyncAPI", **{k: v for k, v in e.items() if k != "class_name"},
             "predictor": {"path": "async_jobs.py", "class_name": e["class_name"],
                           "config": {"log": str(folder / f"{e['name']}.log")} if e["class_name"] == "Jobs" else {}}}
            for e in entries]
    (folder / "cortex.yaml").write_text(yaml.safe_dump(apis))
    return folder / "cortex.yaml"


class Running:
    """One launched AsyncAPI: its URL, its process (group), its store."""

    def __init__(self, spec: Path, api: str, store: str, port: int) -> None:
        self.spec, self.api, self.store, self.port = spec, api, store, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> Running:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([sys.executable, "-m", "mlserve.asyncapi", "--spec", str(self.spec), "--api",
                                      self.api, "--port", str(self.port), "--store", self.store],
                                     env=env, process_group=0)
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"the AsyncAPI exited with {self.proc.returncode}"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the AsyncAPI did not become ready"
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the launcher and its workers (what the local supervisor does to the group)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def submit(self, payload: dict) -> str:
        r = httpx.post(f"{self.url}/{self.api}", json=payload, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["id"]

    def record(self, item_id: str) -> dict:
        return httpx.get(f"{self.url}/{self.api}/{item_id}", timeout=10).json()

    def wait(self, item_id: str, timeout: float = 60.0, until=lambda r: r["status"] in ("completed", "failed")) -> dict:
        deadline = time.monotonic() + timeout
        while not until(record := self.record(item_id)):
            assert time.monotonic() < deadline, f"item {item_id} is still {record}"
            time.sleep(0.05)
        return record


@pytest.fixture
def launch(tmp_path):
    """launch(*entries, api=NAME) -> a started Running; every one is killed at the end."""
    started: list[Running] = []

    def start(*entries: dict, api: str | None = None) -> Running:
        spec = write_project(tmp_path, *entries)
        running = Running(spec, api or entries[0]["name"], f"sqlite://{tmp_path / 'queue.db'}", free_port())
        started.append(running)
        return running.start()
    yield start
    for running in started:
        running.kill()
