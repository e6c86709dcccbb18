"""A deployed copy of tests/fixtures/projects/splitter and ways to send it steady traffic."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from mlserve.deploy.local.backend import LocalBackend
from mlserve.spec import load_project

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "splitter"


def copy_project(dest: Path) -> Path:
    shutil.copytree(FIXTURE, dest, ignore=shutil.ignore_patterns(".mlserve", "__pycache__"))
    return dest / "cortex.yaml"


def set_entries(spec: Path, entries: list[dict]) -> None:
    spec.write_text(yaml.safe_dump(entries, sort_keys=False))


def api(name: str, **config: object) -> dict:
    # The tests send several requests at once, some slow: only a failed API may answer 503 here.
    return {"name": name, "predictor": {"path": "predictors/version.py", "config": {"version": name, **config},
                                        "max_queue_wait": "60s"}}


def splitter(name: str, *weights: tuple[str, int | None]) -> dict:
    """weights: (api, percent), or (api, None) for the shadow."""
    return {"name": name, "kind": "TrafficSplitter",
            "apis": [{"name": a, "shadow": True} if w is None else {"name": a, "weight": w} for a, w in weights]}


def deploy(backend: LocalBackend, spec: Path) -> list:
    return backend.deploy(load_project(spec), lambda _: None)


@dataclass
class Answer:
    status: int
    api: str | None  # the X-Mlserve-API header
    body: dict


def post(client: httpx.Client, url: str, payload: object = None, **kwargs: object) -> Answer:
    r = client.post(url, json=payload if payload is not None else {"n": 1}, **kwargs)
    return Answer(r.status_code, r.headers.get("x-mlserve-api"), r.json())


@dataclass
class SteadyLoad:
    """`workers` threads POSTing back to back until stopped; every answer is kept."""

    url: str
    workers: int = 4
    answers: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(self.workers)]

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                try:
                    self.answers.append(post(client, self.url))
                except httpx.HTTPError as e:  # a dropped connection: exactly what must not happen
                    self.errors.append(repr(e))

    def __enter__(self) -> SteadyLoad:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)
