"""Kubernetes objects of a BatchAPI or TaskAPI: its job service (Deployment + Service, one replica,
with a ServiceAccount and a Role to run Kubernetes Jobs in its namespace), and the template of the
Job each submitted job becomes (in the service's environment: MLSERVE_JOB_TEMPLATE).

The service runs `python -m mlserve.jobs` with its jobs' records in S3 (the environment's results
bucket, under `<namespace>/<api>`) and names each job's SQS queue `<queue prefix>-<job id>.fifo`
(jobs/s3_store.py). The Job's pods run the worker with the API's compute, env and AWS settings; the
service needs little (it enqueues and watches). Recreate, never two services: each would supervise
the same jobs.
"""

from __future__ import annotations

import json

from mlserve.contract import env as envvars
from mlserve.contract.labels import COMPONENT, JOB_COMPONENT, JOB_WORKER_COMPONENT
from mlserve.deploy.async_manifests import queue_name, results_url
from mlserve.deploy.aws_access import grant_aws
from mlserve.deploy.control_plane import RBAC
from mlserve.deploy.environments import Environment
from mlserve.deploy.manifests import deployment, ingress, labels, project_label, resources, service, stamp
from mlserve.image.dockerfile import APP_DIR
from mlserve.spec import Project, runtime_hash
from mlserve.spec.batchapi import BatchAPISpec, TaskAPISpec
from mlserve.spec.models import APISpec, Autoscaling, Predictor, UpdateStrategy

# No CPU request: the service mostly waits (on a queue's counts and a Job's status), so it takes no CPU
# share from the APIs beside it; its workers get the API's compute.
SERVICE_RESOURCES = {"requests": {"memory": "128Mi"}}
WORKER_GRACE_S = 5  # a stopped job's pods are gone within seconds
RULES = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]


def account_name(api: str) -> str:
    return f"{api}-jobs"


def records_url(api: str, env: Environment) -> str:
    return results_url(api, env)


def queue_prefix(api: str, env: Environment) -> str:
    return queue_name(api, env).removesuffix(".fifo")


def _as_api(entry: BatchAPISpec | TaskAPISpec) -> APISpec:
    """The entry as a one-replica API, for the pod template every API has (manifests.deployment)."""
    code = entry.predictor
    return APISpec(name=entry.name, predictor=Predictor(path=code.path, env=code.env, config=code.config,
                                                        python_path=code.python_path),
                   compute=entry.compute, networking=entry.networking,
                   autoscaling=Autoscaling(min_replicas=1, max_replicas=1),
                   update_strategy=UpdateStrategy(max_surge="0", max_unavailable="1"))


def _command(module: str, entry, project: Project, *extra: str) -> list[str]:
    return ["python", "-m", module, "--spec", f"{APP_DIR}/{project.file.name}", "--api", entry.name, *extra]


def job_template(entry, project: Project, env: Environment, image: str, port: int) -> dict:
    """The Kubernetes Job of one job, less what the job service fills in (jobs/kube_workers.py job_object)."""
    pod = deployment(_as_api(entry), project, env, image, port, {})["spec"]["template"]
    pod["metadata"]["labels"][COMPONENT] = JOB_WORKER_COMPONENT
    container = grant_aws(pod["spec"]["containers"][0], env)  # the work itself reads and writes S3
    for key in ("ports", "readinessProbe", "livenessProbe"):
        container.pop(key)
    # The container keeps the name "api": `mlserve logs API` reads that container of each of the API's pods.
    container.update(resources=resources(entry),
                     command=_command("mlserve.jobs.worker", entry, project, "--jobs-dir", records_url(entry.name, env)))
    container["env"] = [e for e in container["env"] if e["name"] not in (envvars.HOST, envvars.PORT)]
    pod["spec"].update(restartPolicy="Never", terminationGracePeriodSeconds=WORKER_GRACE_S)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": f"{entry.name}-JOB", "namespace": env.namespace, "labels": dict(pod["metadata"]["labels"])},
            "spec": {"parallelism": 1, "backoffLimit": 0, "template": pod}}


def render_jobs(entry: BatchAPISpec | TaskAPISpec, project: Project, env: Environment, *, image: str, port: int,
                dependencies: str) -> list[dict]:
    template = job_template(entry, project, env, image, port)
    settings = {envvars.JOB_TEMPLATE: json.dumps(template, sort_keys=True),
                **({envvars.JOBS_API_SERVER: env.autoscaler_api_server} if env.autoscaler_api_server else {})}
    server = deployment(_as_api(entry), project, env, image, port, settings)
    server["spec"].update(replicas=1, strategy={"type": "Recreate"})
    pod = server["spec"]["template"]
    pod["spec"]["serviceAccountName"] = account_name(entry.name)
    pod["spec"]["terminationGracePeriodSeconds"] = 10
    grant_aws(pod["spec"]["containers"][0], env)  # its queues and records
    pod["spec"]["containers"][0].update(resources=SERVICE_RESOURCES, command=_command(
        "mlserve.jobs", entry, project, "--host", "0.0.0.0", "--port", str(port),
        "--jobs-dir", records_url(entry.name, env), "--queue-prefix", queue_prefix(entry.name, env)))
    objects = [server, service(_as_api(entry), project, env), *_rbac(entry.name, project, env)]
    if env.ingress_class or env.ingress_host:
        objects.append(ingress(_as_api(entry), project, env))
    for obj in objects:
        obj["metadata"]["labels"][COMPONENT] = JOB_COMPONENT
    pod["metadata"]["labels"][COMPONENT] = JOB_COMPONENT
    server["spec"]["selector"]["matchLabels"][COMPONENT] = JOB_COMPONENT
    objects[1]["spec"]["selector"] = dict(server["spec"]["selector"]["matchLabels"])
    # Stamped as the entry itself: its spec annotation names its kind (kinds.of_spec) and its files.
    stamp(objects, entry, project, env, runtime_hash(entry, project.root, {}),  # type: ignore[arg-type]
          dependencies, scrape_port=None)
    return objects


def _rbac(api: str, project: Project, env: Environment) -> list[dict]:
    name = account_name(api)

    def obj(api_version: str, kind: str, **body) -> dict:
        return {"apiVersion": api_version, "kind": kind,
                "metadata": {"name": name, "labels": labels(api, project_label(project.file))}, **body}
    own = {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": [api], "verbs": ["get"]}
    return [obj("v1", "ServiceAccount"), obj(RBAC, "Role", rules=[*RULES, own]),
            obj(RBAC, "RoleBinding", roleRef={"apiGroup": RBAC.split("/")[0], "kind": "Role", "name": name},
                subjects=[{"kind": "ServiceAccount", "name": name, "namespace": env.namespace}])]
