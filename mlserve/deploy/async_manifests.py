"""Kubernetes objects of an AsyncAPI: a gateway Deployment + Service (its endpoint) and a worker Deployment.

Both run from the project image, with the API's queue (an SQS FIFO queue per API and environment)
and result store (a prefix of the environment's results bucket) in their environment, and the AWS
endpoint, region and credentials Secret the environment names (deploy/aws_access.py; without a
Secret, the pods' own AWS chain: a role). The gateway is one replica that accepts and
answers; the workers are scaled by mlserve's autoscaler on queue length plus items in progress.

The two Deployments share the API's name label (so `mlserve delete API`, `logs` and the project's
pruning see both) and differ in their component label, which is also in their selectors: the
Service reaches only gateway pods.
"""

from __future__ import annotations

from mlserve.contract import env as envvars
from mlserve.contract.labels import ASYNC_COMPONENT, ASYNC_WORKER_COMPONENT, COMPONENT
from mlserve.deploy.aws_access import aws_env, grant_aws
from mlserve.deploy.environments import Environment
from mlserve.deploy.manifests import deployment, ingress, selector, service, stamp
from mlserve.deploy.pins import pinned_env
from mlserve.image.dockerfile import APP_DIR
from mlserve.queues.names import fifo_name
from mlserve.spec import AsyncAPISpec, Project, runtime_hash

WORKER_SUFFIX = "-worker"
# The gateway only reads the predictor's payload type: it never needs the predictor's compute (but it
# imports the predictor's module, and with it e.g. torch: the example's gateway uses about 240 MiB).
GATEWAY_RESOURCES = {"requests": {"cpu": "100m", "memory": "384Mi"}}
READY_DIR = "/tmp"  # a worker that loaded its predictor leaves a file named by its pid here


def queue_name(api: str, env: Environment) -> str:
    """The API's SQS FIFO queue in this environment (its dead-letter queue: queues/sqs.py)."""
    return fifo_name(f"mlserve-{env.name}-{env.namespace}-{api}")


def results_bucket(env: Environment) -> str:
    return env.async_bucket or f"mlserve-async-{env.name}".replace("_", "-")


def results_url(api: str, env: Environment) -> str:
    return f"s3://{results_bucket(env)}/{env.namespace}/{api}"


def store_env(api: str, env: Environment) -> dict[str, str]:
    return {envvars.ASYNC_QUEUE: f"sqs://{queue_name(api, env)}", envvars.ASYNC_RESULTS: results_url(api, env),
            **aws_env(env)}


def _role(obj: dict, component: str) -> dict:
    """Set the component label on the object, its pods and its selector."""
    obj["metadata"]["labels"][COMPONENT] = component
    obj["spec"]["template"]["metadata"]["labels"][COMPONENT] = component
    obj["spec"]["selector"]["matchLabels"] = {**selector(obj["metadata"]["labels"]["app.kubernetes.io/name"]),
                                              COMPONENT: component}
    return obj


def _command(module: str, api: AsyncAPISpec, project: Project, *extra: str) -> list[str]:
    return ["python", "-m", module, "--spec", f"{APP_DIR}/{project.file.name}", "--api", api.name, *extra]


def render_async(api: AsyncAPISpec, project: Project, env: Environment, *, image: str, port: int, hpa_version: str,
                 dependencies: str) -> list[dict]:
    """The objects of one AsyncAPI (`hpa_version` unused: no HPA can read an SQS queue's length)."""
    pins = pinned_env(api)
    stores = store_env(api.name, env)
    gateway = _role(deployment(api, project, env, image, port, {**pins, **stores}), ASYNC_COMPONENT)
    gateway["spec"]["replicas"] = 1  # it only queues and reads records
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    grant_aws(container, env)
    # Both containers keep the name "api": `mlserve logs` and deploy's failure reports read that container.
    container.update(resources=GATEWAY_RESOURCES,
                     command=_command("mlserve.asyncapi.gateway", api, project, "--host", "0.0.0.0", "--port", str(port)))

    worker = _role(deployment(api, project, env, image, port, {**pins, **stores, envvars.ASYNC_READY_DIR: READY_DIR}),
                   ASYNC_WORKER_COMPONENT)
    worker["metadata"]["name"] = api.name + WORKER_SUFFIX
    container = worker["spec"]["template"]["spec"]["containers"][0]
    grant_aws(container, env)
    for key in ("ports", "livenessProbe"):
        container.pop(key)
    container.update(command=_command("mlserve.asyncapi.worker", api, project), readinessProbe={
        "exec": {"command": ["sh", "-c", f"ls {READY_DIR} | grep -qxE '[0-9]+'"]},
        "periodSeconds": 2, "failureThreshold": 2})

    svc = service(api, project, env)
    svc["metadata"]["labels"][COMPONENT] = ASYNC_COMPONENT
    svc["spec"]["selector"] = dict(gateway["spec"]["selector"]["matchLabels"])
    objects = [gateway, svc, worker]
    if env.ingress_class or env.ingress_host:
        route = ingress(api, project, env)
        paths = route["spec"]["rules"][0]["http"]["paths"]
        backend = paths[0]["backend"]
        prefix = api.endpoint.rstrip("/") + "/"  # GET <endpoint>/<id>
        if not any(p["path"] == prefix for p in paths):
            paths.append({"path": prefix, "pathType": "Prefix", "backend": backend})
        route["metadata"]["labels"][COMPONENT] = ASYNC_COMPONENT
        objects.append(route)
    stamp(objects, api, project, env, runtime_hash(api, project.root, pins), dependencies, scrape_port=port)
    return objects
