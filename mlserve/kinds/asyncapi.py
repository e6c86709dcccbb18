"""`kind: AsyncAPI`: submissions queued and answered later (spec/asyncapi.py, mlserve/asyncapi/).

Locally one supervised process per API, `python -m mlserve.asyncapi` (the gateway and its workers),
its queue and records in `.mlserve/async/<api>.db` (SQLite, WAL, synchronous=FULL: an item put
survives the process, the CLI and the machine). It deploys like a RealtimeAPI (same snapshot,
hashes and restarts), so it extends that kind. On a cluster, a gateway and a worker Deployment on
an SQS queue with records in S3 (deploy/async_manifests.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from mlserve.contract.kind import Kind
from mlserve.contract.labels import ASYNC_COMPONENT
from mlserve.contract.metrics import Summary
from mlserve.contract.progress import Progress
from mlserve.deploy.async_manifests import render_async
from mlserve.deploy.base import APIStatus
from mlserve.deploy.environments import Environment
from mlserve.deploy.local import snapshot
from mlserve.deploy.local.state import APIRecord, StateDir
from mlserve.errors import MlserveError
from mlserve.kinds.realtime import RealtimeAPI
from mlserve.queues import open_queue
from mlserve.spec import AsyncAPISpec, Project

RECENT_FAILURES = 5


def store_url(state: StateDir, name: str) -> str:
    """The API's queue and records, one SQLite file in the project's `.mlserve/`."""
    return f"sqlite://{state.path / 'async' / f'{name}.db'}"


class AsyncAPI(RealtimeAPI):
    kind = Kind.ASYNC_API
    model = AsyncAPISpec
    component = ASYNC_COMPONENT

    def entries(self, project: Project) -> list[AsyncAPISpec]:
        return project.async_apis

    def command(self, rec: APIRecord) -> list[str]:
        state = StateDir.for_project(Path(rec.spec_file))
        return [sys.executable, "-m", "mlserve.asyncapi", "--spec", str(snapshot.spec_file(rec.snapshot)),
                "--api", rec.name, "--host", "127.0.0.1", "--port", str(rec.port),
                "--store", store_url(state, rec.name)]

    def local_status(self, state: StateDir, rec: APIRecord, *, detail: bool) -> APIStatus:
        """An API's row plus its queue, read from the store itself (it answers even while the API is down)."""
        row = super().local_status(state, rec, detail=detail)
        try:
            queue = open_queue(store_url(state, rec.name))
            counts = queue.counts()
        except MlserveError as e:
            row.recent_errors.append(f"its queue cannot be read: {e}")
            return row
        row.queue = {"waiting": counts.waiting, "in_progress": counts.in_flight, "failed": counts.dead,
                     "oldest_age_s": None if counts.oldest_age_s is None else round(counts.oldest_age_s, 1)}
        if detail:
            row.recent_errors += [f"item {d.item_id} failed after {d.attempts} attempts: {d.error}"
                                  for d in queue.dead(RECENT_FAILURES)]
        return row

    # Narrower than RealtimeAPI's: the backends pass each kind only its own entries (`entries`).
    def render(self, api: AsyncAPISpec, project: Project, env: Environment, *,  # type: ignore[override]
               image: str, ports: dict[str, int], hpa_version: str, dependencies: str, istio: bool) -> list[dict]:
        return render_async(api, project, env, image=image, port=ports[api.name], hpa_version=hpa_version,
                            dependencies=dependencies)

    def provision(self, api: AsyncAPISpec, env: Environment, progress: Progress) -> None:
        from mlserve.deploy.async_aws import provision

        provision(api, env, progress)

    def deprovision(self, name: str, objects: list[dict], env: Environment, progress: Progress) -> None:
        from mlserve.deploy.async_aws import deprovision

        deprovision(name, objects, env, progress)

    def describe(self, row: APIStatus, spec: dict, summary: Summary | None) -> None:
        """On any backend: the queue as the gateway's /metrics reports it (read from the queue at scrape time)."""
        row.kind = self.kind
        if summary is not None and summary.queued is not None and row.queue is None:
            oldest = summary.oldest_age_s
            row.queue = {"waiting": int(summary.queued), "in_progress": int(summary.in_progress or 0),
                         "failed": int(summary.failed or 0),
                         "oldest_age_s": round(oldest, 1) if oldest else None}  # 0: nothing unfinished
