"""What an AsyncAPI needs outside the cluster: its SQS queues and its results in S3.

`provision` (every deploy, before the objects are applied; each step is idempotent): the FIFO queue
and its dead-letter queue, SQS moving an item there after `queue.max_attempts + 1` deliveries (the
worker fails an item on the delivery past max_attempts itself, with the reason; the redrive is for
items whose workers die even then), the results bucket, and an S3 lifecycle rule that expires the
API's records after `queue.result_ttl` (whole days): the gateway sweeps them sooner while it runs,
the rule when nothing runs any more.

`deprovision` (`mlserve delete`): the queues go, with anything still waiting in them (no worker is
left to run it); the results stay until the lifecycle rule expires them, since clients may still
want what finished. Both are said in the delete's output.
"""

from __future__ import annotations

import math

from mlserve.contract import env as envvars
from mlserve.contract.progress import Progress
from mlserve.deploy.async_manifests import queue_name, results_url
from mlserve.deploy.aws_access import aws_env
from mlserve.deploy.environments import Environment
from mlserve.errors import DeployError
from mlserve.queues.aws import call, client
from mlserve.queues.s3 import ensure_bucket, parse
from mlserve.queues.sqs import create_queues, delete_queues
from mlserve.spec import AsyncAPISpec

DAY_S = 86400


def aws_client(env: Environment, service: str):
    """A client as the environment's pods make one (endpoint, region), with this machine's credentials or
    the environment's profile. (Not deploy/aws.py's: that module is the aws backend, which imports the kinds.)"""
    return client(service, {**aws_env(env), **({"AWS_PROFILE": env.aws_profile} if env.aws_profile else {})})


def _check(env: Environment) -> None:
    if not env.region:
        raise DeployError(f"environment '{env.name}': an AsyncAPI needs an AWS region (its queue is in SQS)",
                          hint=f"mlserve env set {env.name} --region us-east-1 (and --aws-endpoint-url for an emulator)")


def provision(api: AsyncAPISpec, env: Environment, progress: Progress) -> None:
    _check(env)
    name = queue_name(api.name, env)
    progress(f"{api.name}: SQS queue {name} (and its dead-letter queue)")
    create_queues(aws_client(env, "sqs"), name, max_receives=api.queue.max_attempts + 1, error=DeployError)
    s3 = aws_client(env, "s3")
    bucket, prefix = parse(results_url(api.name, env).removeprefix("s3://"))
    if ensure_bucket(s3, bucket, env.region, error=DeployError):
        progress(f"{api.name}: created S3 bucket {bucket} for results")
    _expire_after(s3, bucket, prefix, days=max(1, math.ceil(api.queue.result_ttl / DAY_S)))


def _expire_after(s3, bucket: str, prefix: str, days: int) -> None:
    """This prefix's lifecycle rule, the bucket's other rules kept (the configuration is one document)."""
    import botocore.exceptions

    def current() -> list[dict]:
        try:
            return s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        except botocore.exceptions.ClientError as e:
            if "NoSuchLifecycleConfiguration" in str(e):
                return []
            raise
    rule_id = f"mlserve-{prefix}"[:255]
    rules = [r for r in call(f"reading the lifecycle rules of S3 bucket {bucket}", current, error=DeployError)
             if r.get("ID") != rule_id]
    rules.append({"ID": rule_id, "Filter": {"Prefix": f"{prefix}/"}, "Status": "Enabled", "Expiration": {"Days": days}})
    call(f"setting the lifecycle rules of S3 bucket {bucket}", s3.put_bucket_lifecycle_configuration, Bucket=bucket,
         LifecycleConfiguration={"Rules": rules}, error=DeployError)


def deprovision(api: str, objects: list[dict], env: Environment, progress: Progress) -> None:
    """After the API's objects are deleted: its queues go, its results are kept (and said so)."""
    stores = _stores(objects) or {envvars.ASYNC_QUEUE: f"sqs://{queue_name(api, env)}",
                                  envvars.ASYNC_RESULTS: results_url(api, env)}
    if not env.region:
        progress(f"{api}: no AWS region in environment '{env.name}': its queue {stores[envvars.ASYNC_QUEUE]} "
                 "was left (delete it in SQS)")
        return
    gone = delete_queues(aws_client(env, "sqs"), stores[envvars.ASYNC_QUEUE].removeprefix("sqs://"), error=DeployError)
    progress(f"{api}: deleted SQS queues {', '.join(gone)}" if gone else f"{api}: its SQS queues were already gone")
    bucket, prefix = parse(stores[envvars.ASYNC_RESULTS].removeprefix("s3://"))
    s3 = aws_client(env, "s3")
    kept = call(f"counting the results under {stores[envvars.ASYNC_RESULTS]}", _count, s3, bucket, prefix,
                error=DeployError)
    if kept:
        progress(f"{api}: kept its {kept} result(s) in s3://{bucket}/{prefix}/ until they expire "
                 f"(the bucket's lifecycle rule mlserve-{prefix})")
    else:
        progress(f"{api}: no results kept (s3://{bucket}/{prefix}/ is empty)")


def _count(s3, bucket: str, prefix: str) -> int:
    import botocore.exceptions

    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/")
        return sum(page.get("KeyCount", 0) for page in pages)
    except botocore.exceptions.ClientError as e:
        if "NoSuchBucket" in str(e):
            return 0
        raise


def _stores(objects: list[dict]) -> dict[str, str]:
    """The queue and results URLs the API's pods were given (what was deployed, whatever the names are now)."""
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            found = {e["name"]: e.get("value") for e in container.get("env") or []
                     if e["name"] in (envvars.ASYNC_QUEUE, envvars.ASYNC_RESULTS)}
            if len(found) == 2:
                return found
    return {}

