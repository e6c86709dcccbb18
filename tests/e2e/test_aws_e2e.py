"""The aws provider end to end: ECR and EKS from an AWS emulator, the image in a real registry,
the APIs on a real cluster (the environment's registry and kubeconfig overrides)."""

from __future__ import annotations

import boto3
import httpx
import pytest

pytestmark = pytest.mark.e2e
ENV = "e2e-aws"
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def aws_environment(cluster, endpoint: str, name: str, repository: str, monkeypatch) -> None:
    """An `aws` environment `name` on the emulator: credentials, an EKS cluster, the ECR repository's
    name, and the real cluster's registry and kubeconfig as overrides."""
    for key, value in AWS.items():
        monkeypatch.setenv(key, value)
    eks = boto3.client("eks", endpoint_url=endpoint)
    if "e2e" not in eks.list_clusters()["clusters"]:
        eks.create_cluster(name="e2e", roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={"subnetIds": []})
    cluster.mlserve("env", "set", name, "--provider", "aws", "--region", "us-east-1", "--eks-cluster", "e2e",
                    "--aws-endpoint-url", endpoint, "--repository", repository, *cluster.env_args())


def test_deploy_through_aws(aws_endpoint, cluster, project, monkeypatch):
    endpoint = aws_endpoint
    repository = f"apis-{cluster.namespace}"
    aws_environment(cluster, endpoint, ENV, repository, monkeypatch)
    spec = project / "cortex.yaml"
    # its own name: its host port must not meet the kubernetes test's
    spec.write_text(spec.read_text().replace("name: greeter", "name: greeter-aws"))

    result = cluster.mlserve("deploy", spec, "--env", ENV, extra_env=AWS)
    assert "greeter-aws" in result.stdout and "created" in result.stdout
    assert cluster.post(ENV, "greeter-aws", spec, {"name": "Ada"}) == {"message": "hello, Ada"}

    # ECR made the repository; the image went to the registry override under that name
    ecr = boto3.client("ecr", endpoint_url=endpoint)
    assert ecr.describe_repositories(repositoryNames=[repository])["repositories"]
    tags = httpx.get(f"http://{cluster.registry}/v2/{repository}/tags/list").json()["tags"]
    assert len(tags) == 1

    cluster.mlserve("delete", "--all", "--env", ENV, "--spec", spec, extra_env=AWS)
    assert cluster.objects("greeter-aws") == []
