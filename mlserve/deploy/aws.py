"""The AWS backend: the Kubernetes backend with images in ECR and the cluster in EKS.

ECR: the repository is created if missing and the Docker client logs in with an ECR token.
EKS: the cluster is described and a kubeconfig made whose bearer token is a presigned STS
GetCallerIdentity URL (what `aws eks get-token` prints), renewed before it expires; no aws
CLI needed. `registry` and `kubeconfig` in the environment override the ECR host and the
generated kubeconfig (e.g. to push to a mirror, or to test against an emulator).
"""

from __future__ import annotations

import base64
import time

from mlserve.deploy.cluster import api_client_from_kubeconfig
from mlserve.deploy.kubernetes import KubernetesBackend
from mlserve.errors import DeployError, EnvironmentConfigError
from mlserve.image.builder import Registry, docker_client
from mlserve.queues.aws import call

TOKEN_PREFIX = "k8s-aws-v1."
# EKS accepts a token for 15 minutes; make a new one well before that.
TOKEN_LIFETIME_S = 600


def aws_client(env, service: str):
    import boto3
    import botocore.exceptions

    try:
        session = boto3.Session(profile_name=env.aws_profile, region_name=env.region)
        return session.client(service, endpoint_url=env.aws_endpoint_url)
    except botocore.exceptions.BotoCoreError as e:
        raise EnvironmentConfigError(f"environment '{env.name}': cannot set up AWS access: {e}",
                                     hint="check the aws_profile / region settings and your AWS credentials") from None


def _aws_call(what: str, fn, *args, **kwargs):
    """Call boto3, turning its errors into DeployError with the operation named."""
    return call(what, fn, *args, error=DeployError, **kwargs)


def eks_token(sts, cluster: str) -> str:
    """A bearer token for EKS: the presigned GetCallerIdentity URL carrying the cluster name."""
    def add_cluster_header(request, **_):
        request.headers["x-k8s-aws-id"] = cluster

    event = "before-sign.sts.GetCallerIdentity"
    sts.meta.events.register(event, add_cluster_header)
    try:
        url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
    finally:
        sts.meta.events.unregister(event, add_cluster_header)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def eks_kubeconfig(cluster: dict, token: str) -> dict:
    """A kubeconfig (as a dict) for a described EKS cluster."""
    name = cluster["arn"]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {
            "server": cluster["endpoint"],
            "certificate-authority-data": cluster["certificateAuthority"]["data"]}}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }


class AwsBackend(KubernetesBackend):
    def describe_cluster(self) -> dict:
        eks = aws_client(self.env, "eks")
        cluster = _aws_call(f"describing EKS cluster '{self.env.eks_cluster}' in {self.env.region}",
                            eks.describe_cluster, name=self.env.eks_cluster)["cluster"]
        if cluster.get("status") != "ACTIVE":
            raise DeployError(f"EKS cluster '{self.env.eks_cluster}' is {cluster.get('status')}, not ACTIVE",
                              hint="wait until the cluster is active, then deploy again")
        return cluster

    def token(self) -> str:
        return eks_token(aws_client(self.env, "sts"), self.env.eks_cluster)

    def api_client(self):
        from kubernetes import client, config

        cluster = self.describe_cluster()  # also checks the cluster exists when a kubeconfig is given
        if self.env.kubeconfig:
            return api_client_from_kubeconfig(self.env)
        configuration = client.Configuration()
        config.load_kube_config_from_dict(eks_kubeconfig(cluster, self.token()),
                                          client_configuration=configuration)
        issued = {"at": time.monotonic()}

        # The client library names the header's key differently across versions.
        key = next((k for k in ("BearerToken", "authorization") if k in configuration.api_key), "BearerToken")

        def renew(conf) -> None:
            if time.monotonic() - issued["at"] > TOKEN_LIFETIME_S:
                conf.api_key[key] = f"Bearer {self.token()}"
                issued["at"] = time.monotonic()

        configuration.refresh_api_key_hook = renew
        return client.ApiClient(configuration)

    def registry(self) -> Registry:
        ecr = aws_client(self.env, "ecr")
        repo = ecr_repository(ecr, self.env.repository)
        username, password = ecr_credentials(ecr, repo["registryId"])
        prefix = (self.env.registry or repo["repositoryUri"].split("/", 1)[0]).rstrip("/")
        client = docker_client()
        import docker

        try:
            client.login(username=username, password=password, registry=prefix, reauth=True)
        except docker.errors.APIError as e:
            raise DeployError(f"docker login to {prefix} failed: {e.explanation or e}",
                              hint="check that the registry is reachable and your AWS identity may push to ECR") from None
        return Registry(prefix, self.env.repository, auth={"username": username, "password": password})


def ecr_repository(ecr, name: str) -> dict:
    """The ECR repository `name`, created if missing."""
    try:
        return _aws_call("reading ECR repository", ecr.describe_repositories, repositoryNames=[name])["repositories"][0]
    except DeployError as e:
        if "RepositoryNotFoundException" not in e.message:
            raise
    return _aws_call(f"creating ECR repository '{name}'", ecr.create_repository, repositoryName=name)["repository"]


def ecr_credentials(ecr, registry_id: str) -> tuple[str, str]:
    """(username, password) for `docker login` to the registry, from an ECR authorization token."""
    data = _aws_call("getting an ECR login token", ecr.get_authorization_token,
                     registryIds=[registry_id])["authorizationData"][0]
    username, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    return username, password
