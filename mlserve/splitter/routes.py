"""The splitter's routing table and its weighted choice.

The table is a small JSON document, written by the deploy (a file written atomically, or an
environment variable on Kubernetes):

    {"splitter": "canary", "endpoint": "/canary",
     "backends": [{"name": "v1", "url": "http://127.0.0.1:8101/v1", "weight": 90},
                  {"name": "v2", "url": "http://127.0.0.1:8102/v2", "weight": 10},
                  {"name": "v3", "url": "http://127.0.0.1:8103/v3", "weight": 0, "shadow": true}]}

Choice is smooth weighted round robin (as nginx does it): over any 100 consecutive requests
each backend gets exactly its weight, interleaved, with no randomness to explain in a test.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from mlserve.contract import env
from mlserve.errors import DeployError


@dataclass
class Backend:
    name: str
    url: str  # where the API answers its endpoint, e.g. http://127.0.0.1:8101/v1
    weight: int
    shadow: bool = False
    current: int = 0  # smooth weighted round robin state
    base: str = field(init=False)  # scheme://host:port
    path: str = field(init=False)  # the API's endpoint

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        self.base, self.path = f"{parts.scheme}://{parts.netloc}", parts.path or "/"


@dataclass
class Routes:
    splitter: str
    endpoint: str
    backends: list[Backend]
    version: str = ""  # hash of the document: deploys wait until the splitter reports theirs
    primaries: list[Backend] = field(init=False)
    shadow: Backend | None = field(init=False)

    def __post_init__(self) -> None:
        self.primaries = [b for b in self.backends if not b.shadow and b.weight > 0]
        self.shadow = next((b for b in self.backends if b.shadow), None)
        self._total = sum(b.weight for b in self.primaries)

    def choose(self, exclude: tuple[Backend, ...] = ()) -> Backend | None:
        """The next backend by weight, skipping `exclude` (backends that refused a connection)."""
        candidates = [b for b in self.primaries if b not in exclude] if exclude else self.primaries
        if not candidates:
            return None
        total = self._total if not exclude else sum(b.weight for b in candidates)
        best = candidates[0]
        for b in candidates:
            b.current += b.weight
            if b.current > best.current:
                best = b
        best.current -= total
        return best

    def backend_path(self, backend: Backend, path: str) -> str | None:
        """The path to ask `backend` for, or None when `path` is not under the splitter's endpoint."""
        if path == self.endpoint:
            return backend.path
        prefix = self.endpoint.rstrip("/") + "/"
        if path.startswith(prefix):
            return backend.path.rstrip("/") + "/" + path[len(prefix):]
        return None


def parse_routes(text: str, source: str) -> Routes:
    try:
        data = json.loads(text)
        backends = [Backend(name=b["name"], url=b["url"], weight=int(b["weight"]), shadow=bool(b.get("shadow")))
                    for b in data["backends"]]
        routes = Routes(splitter=data["splitter"], endpoint=data["endpoint"], backends=backends,
                        version=routes_version(data))
    except (ValueError, KeyError, TypeError) as e:
        raise DeployError(f"{source}: not a splitter routing table ({type(e).__name__}: {e})",
                          hint="it is written by `mlserve deploy`; deploy again") from None
    if not routes.primaries:
        raise DeployError(f"{source}: no backend with a weight above 0", hint="deploy again")
    return routes


def routes_version(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


class RoutesSource:
    """Where the table comes from: a file re-read when it changes, or fixed text."""

    ROUTES_ENV = env.SPLITTER_ROUTES

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._seen: tuple | None = None

    def load(self) -> Routes:
        if self.path is None:
            text = os.environ.get(self.ROUTES_ENV)
            if not text:
                raise DeployError(f"no routing table: pass --routes FILE or set {self.ROUTES_ENV}")
            return parse_routes(text, self.ROUTES_ENV)
        self._seen = self._stat()
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as e:
            raise DeployError(f"cannot read the routing table {self.path}: {e.strerror}",
                              hint="it is written by `mlserve deploy`; deploy again") from None
        return parse_routes(text, str(self.path))

    def changed(self) -> bool:
        return self.path is not None and self._stat() != self._seen

    def _stat(self) -> tuple | None:
        # The deploy replaces the file (a new inode), so two writes within one mtime tick still differ.
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size
