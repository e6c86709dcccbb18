"""A deployed copy of tests/fixtures/projects/jobs (a BatchAPI `squares`, a TaskAPI `chores`),
shared by the module's tests; every process is gone at the end (local_harness.cleanup)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest

from mlserve.deploy.local.backend import LocalBackend
from mlserve.jobs.store import TERMINAL
from mlserve.spec import load_project
from tests.deploy.local_harness import cleanup

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "jobs"


class Deployed:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.backend = LocalBackend.for_project(folder / "cortex.yaml", grace=5)
        self.backend.deploy(load_project(folder / "cortex.yaml"), lambda _: None)
        self.out = folder / "results"

    def url(self, api: str = "squares") -> str:
        return self.backend.endpoint(api)

    def submit(self, body: dict, api: str = "squares") -> str:
        body.setdefault("config", {})["out"] = str(self.out)
        answer = httpx.post(self.url(api), json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()["job_id"]

    def job(self, job_id: str, api: str = "squares") -> dict:
        return httpx.get(self.url(api), params={"jobID": job_id}, timeout=30).json()

    def wait(self, job_id: str, api: str = "squares", timeout: float = 90.0, until=None) -> dict:
        until = until or (lambda rec: rec["status"] in TERMINAL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                rec = self.job(job_id, api)
                if until(rec):
                    return rec
            except httpx.TransportError:
                pass  # the job service is restarting
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not get there in {timeout}s: {self.job(job_id, api)}")

    def results(self, job_id: str) -> dict[str, list]:
        """item -> every result file holding it (each must hold it once)."""
        found: dict[str, list] = {}
        for f in sorted((self.out / job_id).glob("*.json")):
            for item in json.loads(f.read_text()):
                found.setdefault(item, []).append(f.name)
        return found

    def runs(self, job_id: str) -> list[str]:
        path = self.out / job_id / "runs.log"
        return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("jobs") / "project"
    shutil.copytree(FIXTURE, folder, ignore=shutil.ignore_patterns(".mlserve", "__pycache__", "out"))
    try:
        yield Deployed(folder)
    finally:
        assert cleanup(folder) == [], "processes were left behind after delete"
