"""What the local backend remembers about a project, in `.mlserve/` beside cortex.yaml.

    .mlserve/state.json        one record per deployed API (port, hashes, supervisor identity)
    .mlserve/status/<api>.json written only by that API's supervisor (live, restarts, pids)
    .mlserve/logs/<api>.log    the API's output and the supervisor's notes
    .mlserve/lock              held by deploy/refresh/delete

A record's `phase` is written *before* acting on it, so a CLI killed at any point leaves enough
behind for the next deploy to converge: "starting" means a supervisor may or may not exist yet.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlserve.deploy.local.files import read_json, write_json

STATE_VERSION = 1


@dataclass
class APIRecord:
    name: str
    port: int
    endpoint: str  # URL path the API answers on, e.g. /qa
    spec_file: str  # absolute path of the cortex.yaml it was deployed from
    spec_hash: str
    predictor_hash: str
    phase: str = "starting"  # starting | running | stopping
    supervisor_pid: int | None = None
    supervisor_started: float | None = None  # process start time: tells a reused pid apart
    last_update: float = 0.0
    spec: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.endpoint}"


class StateDir:
    """Paths inside `.mlserve/` and the one state file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_project(cls, project_file: Path) -> StateDir:
        project_file = Path(project_file).resolve()
        folder = project_file if project_file.is_dir() else project_file.parent
        return cls(folder / ".mlserve")

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.path / "lock"

    def status_file(self, api: str) -> Path:
        return self.path / "status" / f"{api}.json"

    def log_file(self, api: str) -> Path:
        return self.path / "logs" / f"{api}.log"

    def load(self) -> dict[str, APIRecord]:
        data = read_json(self.state_file) or {"apis": {}}
        known = set(APIRecord.__dataclass_fields__)
        return {
            name: APIRecord(**{k: v for k, v in rec.items() if k in known})
            for name, rec in data.get("apis", {}).items()
        }

    def save(self, records: dict[str, APIRecord]) -> None:
        write_json(self.state_file, {
            "version": STATE_VERSION,
            "apis": {name: asdict(rec) for name, rec in sorted(records.items())},
        })

    def read_status(self, api: str) -> dict:
        return read_json(self.status_file(api)) or {}

    def write_status(self, api: str, status: dict) -> None:
        write_json(self.status_file(api), status)

    def forget(self, api: str) -> None:
        self.status_file(api).unlink(missing_ok=True)
