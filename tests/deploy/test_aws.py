"""ECR and EKS access against a real moto server on loopback (AWS's APIs, emulated)."""

import base64
import time
from urllib.parse import parse_qs, urlparse

import pytest

from mlserve.deploy import aws
from mlserve.deploy.aws import TOKEN_PREFIX, AwsBackend, aws_client, ecr_credentials, ecr_repository, eks_token
from mlserve.deploy.environments import Environment
from mlserve.errors import DeployError


@pytest.fixture(autouse=True)
def credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))


def environment(moto_url, **extra):
    settings = dict(region="us-east-1", eks_cluster="serving", aws_endpoint_url=moto_url) | extra
    return Environment(name="eks", provider="aws", **settings)


def create_cluster(moto_url, name):
    eks = aws_client(environment(moto_url), "eks")
    eks.create_cluster(name=name, roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": []})


def test_ecr_repository_is_created_once(moto_url):
    ecr = aws_client(environment(moto_url), "ecr")
    name = f"repo-{time.time_ns()}"
    created = ecr_repository(ecr, name)
    assert created["repositoryUri"].endswith(f".dkr.ecr.us-east-1.amazonaws.com/{name}")
    assert ecr_repository(ecr, name)["repositoryArn"] == created["repositoryArn"]
    assert len([r for r in ecr.describe_repositories()["repositories"] if r["repositoryName"] == name]) == 1


def test_ecr_credentials_come_from_the_authorization_token(moto_url):
    ecr = aws_client(environment(moto_url), "ecr")
    repo = ecr_repository(ecr, "creds")
    username, password = ecr_credentials(ecr, repo["registryId"])
    assert username == "AWS" and password


def test_a_missing_cluster_is_reported(moto_url):
    with pytest.raises(DeployError) as err:
        AwsBackend(environment(moto_url, eks_cluster="nope")).describe_cluster()
    assert "EKS cluster 'nope'" in err.value.message and "us-east-1" in err.value.message


def decode(token: str) -> str:
    assert token.startswith(TOKEN_PREFIX)
    body = token[len(TOKEN_PREFIX):]
    assert "=" not in body  # unpadded base64url, as `aws eks get-token`
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


@pytest.mark.parametrize("endpoint", [None, "moto"])
def test_token_is_a_presigned_get_caller_identity_url(moto_url, endpoint):
    env = environment(moto_url if endpoint else None)
    url = urlparse(decode(eks_token(aws_client(env, "sts"), "serving")))
    query = parse_qs(url.query)
    assert url.netloc == (urlparse(moto_url).netloc if endpoint else "sts.us-east-1.amazonaws.com")
    assert query["Action"] == ["GetCallerIdentity"] and query["X-Amz-Expires"] == ["60"]
    assert query["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"]  # the cluster name is signed in
    assert "/us-east-1/sts/aws4_request" in query["X-Amz-Credential"][0]
    assert query["X-Amz-Signature"][0]


def test_kubeconfig_from_the_described_cluster(moto_url, monkeypatch):
    create_cluster(moto_url, "serving")
    backend = AwsBackend(environment(moto_url))
    cluster = backend.describe_cluster()
    conf = backend.api_client().configuration
    assert conf.host == cluster["endpoint"].rstrip("/")
    assert conf.auth_settings()["BearerToken"]["value"].startswith(f"Bearer {TOKEN_PREFIX}")
    # before the token expires it is renewed
    issued = []
    monkeypatch.setattr(AwsBackend, "token", lambda self: issued.append(1) or f"{TOKEN_PREFIX}renewed")
    conf.refresh_api_key_hook(conf)
    assert issued == []
    monkeypatch.setattr(aws, "TOKEN_LIFETIME_S", -1)
    conf.refresh_api_key_hook(conf)
    assert issued == [1] and conf.auth_settings()["BearerToken"]["value"] == f"Bearer {TOKEN_PREFIX}renewed"


def test_a_kubeconfig_override_is_used_after_checking_the_cluster(moto_url, tmp_path):
    create_cluster(moto_url, "with-override")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:6999'}}]\n"
        "users: [{name: u, user: {token: abc}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "current-context: x\n")
    env = environment(moto_url, eks_cluster="with-override", kubeconfig=str(kubeconfig))
    assert AwsBackend(env).api_client().configuration.host == "https://127.0.0.1:6999"
    with pytest.raises(DeployError):
        AwsBackend(environment(moto_url, eks_cluster="missing", kubeconfig=str(kubeconfig))).api_client()
