"""Traffic splitters on the local backend: a supervised `python -m mlserve.splitter` per splitter.

A splitter is recorded like an API (same state file, supervisor, port rules, logs). Its routing
table, with each API resolved to its local URL, lives in `.mlserve/splitters/<name>.json`; every
deploy rewrites it atomically and the running splitter re-reads it (it watches the file), so a
weight change restarts nothing and drops nothing. Only a new endpoint or port restarts it.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import httpx

from mlserve.contract.progress import Progress
from mlserve.deploy.base import Action
from mlserve.deploy.local.placement import Placement
from mlserve.deploy.local.procs import is_alive
from mlserve.deploy.local.state import APIRecord, StateDir
from mlserve.errors import DeployError
from mlserve.files import write_json
from mlserve.spec import Project, TrafficSplitterSpec
from mlserve.splitter.routes import routes_version


def routes_file(state: StateDir, name: str) -> Path:
    return state.path / "splitters" / f"{name}.json"


def splitter_command(rec: APIRecord) -> list[str]:
    state = StateDir.for_project(Path(rec.spec_file))
    return [sys.executable, "-m", "mlserve.splitter", "--routes", str(routes_file(state, rec.name)),
            "--host", "127.0.0.1", "--port", str(rec.port)]


def routes_document(splitter: TrafficSplitterSpec, records: dict[str, APIRecord]) -> dict:
    return {"splitter": splitter.name, "endpoint": splitter.endpoint, "backends": [
        {"name": a.name, "url": records[a.name].url, "weight": a.weight, "shadow": a.shadow} for a in splitter.apis]}


def _digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _runtime_hash(splitter: TrafficSplitterSpec) -> str:
    """What the splitter process itself reads: its name, endpoint and port. Weights are not in it."""
    return _digest({"name": splitter.name, "endpoint": splitter.endpoint, "local_port": splitter.networking.local_port})


def reconcile(placement: Placement, project: Project, splitter: TrafficSplitterSpec,
              records: dict[str, APIRecord], running: list[tuple[int, float]], force: bool,
              progress: Progress) -> Action:
    """Write the routing table, then start, restart or keep the splitter process.

    Port choice and (re)starting are `placement`'s, as for an API, so a splitter gets exactly an
    API's port rules and crash safety; only what counts as a change differs."""
    write_json(routes_file(placement.state, splitter.name), routes_document(splitter, records))
    old = records.get(splitter.name)
    spec, runtime_hash = splitter.model_dump(mode="json"), _runtime_hash(splitter)
    if (old and not force and old.phase == "running" and old.spec_file == str(project.file)
            and old.runtime_hash == runtime_hash and [pid for pid, _ in running] == [old.supervisor_pid]
            and is_alive(old.supervisor_pid, old.supervisor_started)):
        if old.spec == spec:
            return "unchanged"
        old.spec, old.spec_hash, old.last_update = spec, _digest(spec), time.time()
        placement.state.save(records)
        progress(f"{splitter.name}: new weights ({_weights(splitter)}), applied without a restart")
        return "updated"
    port = placement.choose_port(splitter.name, splitter.networking.local_port, old, records)
    rec = APIRecord(
        name=splitter.name, port=port, endpoint=splitter.endpoint,
        spec_file=str(project.file), spec_hash=_digest(spec), runtime_hash=runtime_hash,
        supervisor_pid=old.supervisor_pid if old else None,
        supervisor_started=old.supervisor_started if old else None, spec=spec,
    )
    placement.restart(records, rec, progress)
    return "created" if old is None else "updated"


def _weights(splitter: TrafficSplitterSpec) -> str:
    return ", ".join(f"{a.name} {'shadow' if a.shadow else a.weight}" for a in splitter.apis)


def wait_applied(state: StateDir, records: dict[str, APIRecord], names: list[str], timeout: float = 30.0) -> None:
    """Block until each running splitter serves the routing table this deploy wrote."""
    for name in names:
        wanted = routes_version(json.loads(routes_file(state, name).read_text()))
        url = f"http://127.0.0.1:{records[name].port}/readyz"
        deadline, seen = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            try:
                seen = httpx.get(url, timeout=2).json().get("routes")
            except (httpx.HTTPError, ValueError):
                seen = None
            if seen == wanted:
                break
            time.sleep(0.05)
        else:
            raise DeployError(f"traffic splitter '{name}' did not take the new routing table within {timeout:.0f}s "
                              f"(it serves {seen or 'nothing'}, want {wanted})",
                              hint=f"`mlserve logs {name}` shows why; `mlserve refresh {name}` restarts it")
