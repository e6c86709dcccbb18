"""What every deploy backend (local processes, Kubernetes, AWS) offers the CLI.

The CLI only speaks this interface, so `mlserve deploy --env prod` and the local default
behave the same way. Backends raise `mlserve.errors` exceptions; they never exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from mlserve.contract.kind import Kind
from mlserve.contract.progress import Progress
from mlserve.contract.status import Status
from mlserve.spec import Project

# What a reconcile did to one API.
Action = Literal["created", "updated", "unchanged", "deleted"]


@dataclass
class DeployResult:
    api: str
    action: Action
    endpoint: str | None = None  # full URL to POST to, once known
    # A multi-model API: each model after the deploy (deploy/metrics.py model_rows).
    models: list[dict] = field(default_factory=list)


@dataclass
class APIStatus:
    api: str
    status: Status
    endpoint: str | None = None
    replicas: str = ""  # e.g. "1/1" (ready/requested) or "2 processes"
    requests: int = 0
    responses_2xx: int = 0
    responses_4xx: int = 0
    responses_5xx: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None
    last_update: float | None = None  # unix time of the last deploy/refresh
    reason: str | None = None  # why it is not live, e.g. "Unschedulable: 0/3 nodes are available: …"
    spec: dict | None = None  # detail view only
    # Detail view: one row per process/pod, e.g. {"role": "runtime", "pid": 123, "restarts": 0}.
    processes: list[dict] = field(default_factory=list)
    recent_errors: list[str] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)
    kind: Kind = Kind.REALTIME_API
    # Traffic splitters: one row per API behind it: {"api", "weight", "shadow", "requests"}.
    backends: list[dict] = field(default_factory=list)
    # Autoscaled backends: ready and desired replicas, the in-flight average the autoscaler last saw,
    # and (detail view) its last scaling decisions, one line each.
    ready_replicas: int | None = None
    desired_replicas: int | None = None
    in_flight: float | None = None
    scaling: list[str] = field(default_factory=list)
    # Kinds with a queue (AsyncAPI): {"waiting", "in_progress", "failed"?, "oldest_age_s"?}.
    queue: dict | None = None
    # Job APIs (BatchAPI, TaskAPI): their jobs' records, newest first (mlserve/jobs/store.py).
    jobs: list[dict] = field(default_factory=list)
    # A multi-model API (detail view): one row per model (deploy/metrics.py model_rows).
    models: list[dict] = field(default_factory=list)


__all__ = ["Action", "APIStatus", "Backend", "DeployResult", "Progress"]  # Progress: contract/progress.py


class Backend(Protocol):
    def deploy(self, project: Project, progress: Progress, *, force: bool = False) -> list[DeployResult]:
        """Reconcile what runs with `project`: create new, restart changed, delete removed APIs.
        Blocks until every API is ready or raise DeployError naming the failed API(s)."""

    def status(self, api: str | None = None, *, detail: bool = False) -> list[APIStatus]:
        """All deployed APIs (or one); `detail` fills spec, recent_errors and log_tail."""

    def logs(self, api: str, *, follow: bool = False, tail: int = 200) -> Iterator[str]:
        """The API's log lines; with follow, keeps yielding until interrupted."""

    def refresh(self, api: str, progress: Progress) -> DeployResult:
        """Restart an API with its current spec; blocks until ready."""

    def delete(self, api: str | None, progress: Progress) -> list[DeployResult]:
        """Delete one API, or every API when `api` is None."""

    def endpoint(self, api: str) -> str:
        """The URL to POST predictions to."""
