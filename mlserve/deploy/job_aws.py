"""What a BatchAPI or TaskAPI needs outside the cluster: the bucket of its job records (every deploy),
and after `mlserve delete` the SQS queues of jobs that had not ended (their workers went with the
API's objects). Records are kept: they are the jobs' history (`GET ?jobID=` after a redeploy)."""

from __future__ import annotations

from mlserve.contract.progress import Progress
from mlserve.deploy.async_aws import aws_client
from mlserve.deploy.environments import Environment
from mlserve.deploy.job_manifests import queue_prefix, records_url
from mlserve.errors import DeployError
from mlserve.queues.aws import call
from mlserve.queues.s3 import ensure_bucket, parse


def provision(entry, env: Environment, progress: Progress) -> None:
    if not env.region:
        raise DeployError(f"environment '{env.name}': {entry.kind} '{entry.name}' needs an AWS region "
                          "(each job's queue is in SQS, its record in S3)",
                          hint=f"mlserve env set {env.name} --region us-east-1 (and --aws-endpoint-url for an emulator)")
    bucket, _ = parse(records_url(entry.name, env).removeprefix("s3://"))
    if ensure_bucket(aws_client(env, "s3"), bucket, env.region, error=DeployError):
        progress(f"{entry.name}: created S3 bucket {bucket} for its job records")


def deprovision(name: str, env: Environment, progress: Progress) -> None:
    if not env.region:
        progress(f"{name}: no AWS region in environment '{env.name}': the queues of its unfinished jobs "
                 f"(named {queue_prefix(name, env)}-*) were left (delete them in SQS)")
        return
    sqs = aws_client(env, "sqs")
    urls = call("listing the SQS queues of its jobs", sqs.list_queues, QueueNamePrefix=f"{queue_prefix(name, env)}-",
                error=DeployError).get("QueueUrls") or []
    for url in urls:
        call(f"deleting SQS queue {url}", sqs.delete_queue, QueueUrl=url, error=DeployError)
    if urls:
        progress(f"{name}: deleted the {len(urls)} SQS queue(s) of its unfinished jobs")
    progress(f"{name}: kept its job records in {records_url(name, env)}/")
