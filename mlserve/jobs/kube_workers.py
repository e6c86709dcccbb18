"""A job's workers on a cluster: one Kubernetes Job made from the template the deploy rendered
(deploy/job_manifests.py), with `parallelism = workers` pods (a TaskAPI: one) running
`python -m mlserve.jobs.worker ... --job ID`.

The Job is owned by the job service's Deployment (so `mlserve delete` removes it), not by the
service's pod: a restarted service finds the Job still running and supervises it again. Kubernetes
replaces failed worker pods up to `backoffLimit`, and ends the Job at `activeDeadlineSeconds` (the
job's timeout) even while no service watches it. When the job ends its pods' logs are copied into
the job's log in S3, then the Job is deleted (its pods with it).
"""

from __future__ import annotations

import copy
import json
import math
import os
from typing import TYPE_CHECKING

from mlserve.autoscaler.kube import Credentials, KubeAPI
from mlserve.contract import env as envvars
from mlserve.contract.labels import JOB_ID
from mlserve.errors import MlserveError
from mlserve.jobs.processes import RESPAWNS_PER_WORKER
from mlserve.jobs.runner import Outcome

if TYPE_CHECKING:
    from mlserve.jobs.runner import JobRun
    from mlserve.jobs.store import JobStore

NAME_MAX = 63  # a Job's name is a label value of its pods


def job_name(api: str, job_id: str) -> str:
    return f"{api[:NAME_MAX - len(job_id) - 1].rstrip('-')}-{job_id}"


def job_object(template: dict, record: dict, owner: dict | None) -> dict:
    """The Kubernetes Job of one job, from the deploy's template."""
    job = copy.deepcopy(template)
    job_id, task = record["job_id"], record["kind"] == "TaskAPI"
    job["metadata"]["name"] = job_name(record["api"], job_id)
    for meta in (job["metadata"], job["spec"]["template"]["metadata"]):
        meta["labels"][JOB_ID] = job_id
    if owner is not None:
        job["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner["name"],
                                               "uid": owner["uid"], "blockOwnerDeletion": False}]
    spec = job["spec"]
    spec["parallelism"] = 1 if task else record["workers"]
    if task:
        spec["completions"], spec["backoffLimit"] = 1, 0  # a task runs once, as it does locally
    else:  # a work queue: done once one pod finished and none runs
        spec["backoffLimit"] = RESPAWNS_PER_WORKER * record["workers"]
    if record.get("timeout"):
        spec["activeDeadlineSeconds"] = math.ceil(record["timeout"])
    spec["template"]["spec"]["containers"][0]["command"] += ["--job", job_id]
    return job


class KubeJobs:
    survives_restart = True

    def __init__(self, kube: KubeAPI, template: dict, api: str, store: JobStore) -> None:
        self.kube, self.template, self.api, self.store = kube, template, api, store
        deployment = kube.get("apps/v1", "deployments", api)
        self.owner = None if deployment is None else deployment["metadata"]
        self.namespace = kube.namespace

    @classmethod
    def in_cluster(cls, api: str, store: JobStore) -> KubeJobs:
        """From the pod's service account and the deploy's template (environment variables)."""
        template = json.loads(os.environ[envvars.JOB_TEMPLATE])
        namespace = template["metadata"]["namespace"]
        return cls(KubeAPI(Credentials.in_cluster(os.environ.get(envvars.JOBS_API_SERVER)), namespace),
                   template, api, store)

    def workers(self, run: JobRun) -> KubeWorkers:
        return KubeWorkers(self, run)

    def pods_log(self, job_id: str) -> list[str]:
        """Every line the job's pods printed, each prefixed with its pod."""
        pods = self.kube.list("", "pods", f"{JOB_ID}={job_id}")
        pods.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "")
        lines = []
        for pod in pods:
            name = pod["metadata"]["name"]
            try:
                text = self.kube.pod_log(name)
            except MlserveError as e:  # not started yet, or already gone
                text = f"(no log: {e})"
            lines += [f"[{name}] {line}" for line in text.splitlines()]
        return lines

    def live_log(self, job_id: str) -> list[str]:
        return self.pods_log(job_id)


class KubeWorkers:
    def __init__(self, jobs: KubeJobs, run: JobRun) -> None:
        self.jobs, self.run = jobs, run
        self.name = job_name(run.record["api"], run.job_id)

    def start(self, resuming: bool) -> None:
        if resuming:
            self.run.note(f"the job service restarted: watching Kubernetes Job {self.name} again")
            return
        body = job_object(self.jobs.template, self.run.record, self.jobs.owner)
        self.jobs.kube.create("batch/v1", "jobs", body)
        self.run.save(kubernetes_job=self.name)
        self.run.note(f"created Kubernetes Job {self.name} ({body['spec']['parallelism']} pods)")

    def check(self, drained: bool) -> Outcome | None:
        job = self.jobs.kube.get("batch/v1", "jobs", self.name)
        if job is None:
            return "failed", f"its Kubernetes Job {self.name} is gone (deleted outside the job service)"
        status = job.get("status") or {}
        ended = {c["type"]: c for c in status.get("conditions") or [] if c.get("status") == "True"}
        failed = ended.get("Failed")
        if failed is not None:
            if failed.get("reason") == "DeadlineExceeded":
                return "timed_out", f"ran past its timeout of {self.run.record['timeout']:g}s"
            return "failed", f"its Kubernetes Job failed: {failed.get('reason')}: {failed.get('message')} (see the job's log)"
        if "Complete" not in ended:
            return None
        if self.run.record["kind"] == "TaskAPI" or drained:
            return "done", None
        return "failed", "its workers finished while batches were left (see the job's log)"

    def stop(self) -> None:
        """Keep what the pods printed, then delete the Job: its pods get SIGTERM at once."""
        try:
            lines = self.jobs.pods_log(self.run.job_id)
            if lines:
                self.jobs.store.append_log(self.run.job_id, lines)
        finally:
            self.jobs.kube.delete("batch/v1", "jobs", self.name)
