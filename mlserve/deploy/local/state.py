"""What the local backend remembers about a project, in `.mlserve/` beside cortex.yaml.

    .mlserve/state.json        one record per deployed API (port, hashes, supervisor identity)
    .mlserve/status/<api>.json written only by that API's supervisor (live, restarts, pids)
    .mlserve/logs/<api>.log    the API's output and the supervisor's notes
    .mlserve/models/<api>.json a multi-model API's deployed models list (models.py)
    .mlserve/snapshots/<api>/<runtime-hash>/  what the API runs (see snapshot.py)
    .mlserve/lock              held by deploy/refresh/delete

A record's `phase` is written *before* acting on it, so a CLI killed at any point leaves enough
behind for the next deploy to converge: "starting" means a supervisor may or may not exist yet.
The state file is validated whole on read (a wrong shape is a StateError, like invalid JSON), so
nothing ever acts on half of it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from mlserve.deploy.local.files import private_dir, read_json, state_hint, write_json
from mlserve.errors import StateError

STATE_VERSION = 1


@dataclass
class APIRecord:
    name: str
    port: int
    endpoint: str  # URL path the API answers on, e.g. /qa
    spec_file: str  # absolute path of the cortex.yaml it was deployed from
    spec_hash: str
    runtime_hash: str = ""  # decides restarts; "" in records written before it existed
    snapshot: str = ""  # the folder the runtime runs from (its spec + files), see snapshot.py
    phase: str = "starting"  # starting | running | stopping
    supervisor_pid: int | None = None
    supervisor_started: float | None = None  # process start time: tells a reused pid apart
    last_update: float = 0.0
    spec: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.endpoint}"


class StateFile(TypedDict, total=False):
    version: int
    apis: dict[str, APIRecord]


class StatusFile(TypedDict, total=False):
    """The fields of a supervisor's status file that mlserve acts on."""

    supervisor_pid: int | None
    supervisor_started: float | None
    child_pid: int | None
    child_started: float | None
    status: str
    restarts: int
    consecutive_failures: int
    last_exit_code: int | None
    errors: list[str]


_STATE = TypeAdapter(StateFile)
_STATUS = TypeAdapter(StatusFile)


def _validated(adapter: TypeAdapter, data: dict, path: Path) -> dict:
    try:
        # Strict, as JSON: a port written as "8080" is a broken file, not a port.
        adapter.validate_json(json.dumps(data), strict=True)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the top level"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise StateError(f"{path} is not a valid mlserve state file: {where}: {first['msg']}{more}",
                         hint=state_hint(path)) from None
    return data


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

    def models_file(self, api: str) -> Path:
        """A multi-model API's deployed models list, which its runtime re-reads (models.py)."""
        return self.path / "models" / f"{api}.json"

    def private(self, folder: Path) -> Path:
        """`folder` (inside `.mlserve/`), created private like everything there."""
        return private_dir(folder, self.path)

    def load(self) -> dict[str, APIRecord]:
        data = _validated(_STATE, read_json(self.state_file) or {"apis": {}}, self.state_file)
        known = set(APIRecord.__dataclass_fields__)
        records = {
            name: APIRecord(**{k: v for k, v in rec.items() if k in known})
            for name, rec in data.get("apis", {}).items()
        }
        for name, rec in records.items():
            if rec.name != name:
                raise StateError(f"{self.state_file} is not a valid mlserve state file: apis.{name}.name is "
                                 f"'{rec.name}'", hint=state_hint(self.state_file))
        return records

    def save(self, records: dict[str, APIRecord]) -> None:
        self.private(self.path)
        write_json(self.state_file, {
            "version": STATE_VERSION,
            "apis": {name: asdict(rec) for name, rec in sorted(records.items())},
        })

    def read_status(self, api: str) -> dict:
        path = self.status_file(api)
        return _validated(_STATUS, read_json(path) or {}, path)

    def write_status(self, api: str, status: dict) -> None:
        self.private(self.status_file(api).parent)
        write_json(self.status_file(api), status)

    def forget(self, api: str) -> None:
        self.status_file(api).unlink(missing_ok=True)
