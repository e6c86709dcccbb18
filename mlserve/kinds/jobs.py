"""`kind: BatchAPI` and `kind: TaskAPI`: a job service (mlserve/jobs/) that takes jobs and runs them.

Locally each is one supervised `python -m mlserve.jobs` process on its port, run from a snapshot like
a RealtimeAPI (so it reconciles as one), keeping its jobs in `.mlserve/jobs/<api>/`. On a cluster
the same service runs as a Deployment that makes an SQS queue and a Kubernetes Job per job, its
records in S3 (deploy/job_manifests.py, jobs/kube_workers.py, jobs/s3_store.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx

from mlserve.contract.kind import Kind
from mlserve.contract.labels import JOB_COMPONENT
from mlserve.contract.progress import Progress
from mlserve.contract.status import Status
from mlserve.deploy.base import APIStatus
from mlserve.deploy.cluster import Cluster
from mlserve.deploy.cluster_models import ready
from mlserve.deploy.environments import Environment
from mlserve.deploy.local import snapshot
from mlserve.deploy.local.state import APIRecord, StateDir
from mlserve.kinds.realtime import RealtimeAPI
from mlserve.spec import Project
from mlserve.spec.batchapi import BatchAPISpec, TaskAPISpec

UNLISTED = "its job service did not list its jobs"


def jobs_dir(rec: APIRecord) -> Path:
    return StateDir.for_project(Path(rec.spec_file)).path / "jobs" / rec.name


class BatchAPI(RealtimeAPI):  # reconciled like a RealtimeAPI: a snapshot, a port, one supervised process
    kind = Kind.BATCH_API
    model = BatchAPISpec
    component = JOB_COMPONENT

    def entries(self, project: Project) -> list:
        return project.batch_apis

    def command(self, rec: APIRecord) -> list[str]:
        # Local paths in job submissions are relative to the project folder, not the snapshot.
        return [sys.executable, "-m", "mlserve.jobs", "--spec", str(snapshot.spec_file(rec.snapshot)),
                "--api", rec.name, "--host", "127.0.0.1", "--port", str(rec.port),
                "--jobs-dir", str(jobs_dir(rec)), "--root", str(Path(rec.spec_file).parent)]

    def local_status(self, state: StateDir, rec: APIRecord, *, detail: bool) -> APIStatus:
        row = super().local_status(state, rec, detail=detail)
        if row.status == Status.LIVE:
            try:
                listed = jobs_of(httpx.get(rec.url, timeout=5).text)
            except httpx.HTTPError:
                listed = None
            _show(row, listed)
        return row

    def describe_pods(self, row: APIStatus, cluster: Cluster, deployment: dict, pods: list[dict]) -> None:
        """The jobs as the job service's `GET <endpoint>` lists them, reached through its ready pod
        (one replica: the service's records are the jobs' own, in S3)."""
        if row.status != Status.LIVE:
            return
        port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        path = ((row.spec or {}).get("networking") or {}).get("endpoint") or f"/{row.api}"
        answers = (jobs_of(cluster.pod_get(pod, port, path, timeout=5)) for pod in pods if ready(pod))
        _show(row, next((jobs for jobs in answers if jobs is not None), None))

    def render(self, entry, project: Project, env: Environment, *, image: str, ports: dict[str, int],
               hpa_version: str, dependencies: str, istio: bool) -> list[dict]:
        from mlserve.deploy.job_manifests import render_jobs

        return render_jobs(entry, project, env, image=image, port=ports[entry.name], dependencies=dependencies)

    def provision(self, entry, env: Environment, progress: Progress) -> None:
        from mlserve.deploy.job_aws import provision

        provision(entry, env, progress)

    def deprovision(self, name: str, objects: list[dict], env: Environment, progress: Progress) -> None:
        from mlserve.deploy.job_aws import deprovision

        deprovision(name, env, progress)


class TaskAPI(BatchAPI):
    kind = Kind.TASK_API
    model = TaskAPISpec  # type: ignore[assignment]

    def entries(self, project: Project) -> list:
        return project.task_apis



def jobs_of(answer: str | None) -> list[dict] | None:
    """The jobs of a job service's `GET <endpoint>` answer (`{"jobs": [...]}`, newest first);
    None when there was no answer or it is not that."""
    try:
        jobs = json.loads(answer or "")["jobs"]
    except (ValueError, TypeError, KeyError):
        return None
    return jobs if isinstance(jobs, list) else None


def _show(row: APIStatus, jobs: list[dict] | None) -> None:
    if jobs is None:
        row.reason = UNLISTED
    else:
        row.jobs = jobs
