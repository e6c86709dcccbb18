"""How pods that talk to AWS reach it: the environment's endpoint and region, and its credentials.

Endpoint and region are plain values in the pods' environment (`mlserve env set --region
--aws-endpoint-url`; the autoscaler copies them from a worker Deployment to read its queue).
Credentials come from a Kubernetes Secret the environment names (`mlserve env set --aws-secret
NAME`), loaded whole into the pods' environment with `envFrom`, so its keys (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN...) never appear in a manifest. Without one, boto3's own
chain finds them: on EKS the pod's service account role (IRSA) or the node's role.

Which pods: an AsyncAPI's gateway and workers, a BatchAPI's or TaskAPI's job service and job pods,
APIs with s3:// models or a models list (which may name s3:// models later), and the autoscaler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlserve.deploy.environments import Environment
from mlserve.errors import DeployError

if TYPE_CHECKING:  # the cluster module imports the manifests, which use this one
    from mlserve.deploy.cluster import Cluster


def aws_env(env: Environment) -> dict[str, str]:
    """The AWS endpoint and region of the environment, for the pods (boto3 reads these names)."""
    return {k: v for k, v in (("AWS_ENDPOINT_URL", env.aws_endpoint_url), ("AWS_DEFAULT_REGION", env.region)) if v}


def grant_aws(container: dict, env: Environment) -> dict:
    """Give `container` the environment's AWS endpoint, region and credentials Secret; returns it."""
    given = {e["name"] for e in container.setdefault("env", [])}
    container["env"] += [{"name": k, "value": v} for k, v in aws_env(env).items() if k not in given]
    if env.aws_secret:
        container["envFrom"] = [{"secretRef": {"name": env.aws_secret}}]
    return container


def check_aws_secret(cluster: Cluster, env: Environment) -> None:
    """A named credentials Secret must exist before pods need it (else they stop at CreateContainerConfigError)."""
    if env.aws_secret and cluster.get("v1", "Secret", env.aws_secret) is None:
        raise DeployError(
            f"environment '{env.name}' names the AWS credentials Secret '{env.aws_secret}', which namespace "
            f"{env.namespace} does not have",
            hint=f"kubectl -n {env.namespace} create secret generic {env.aws_secret} "
                 "--from-literal=AWS_ACCESS_KEY_ID=... --from-literal=AWS_SECRET_ACCESS_KEY=... "
                 f"(or `mlserve env set {env.name} --unset aws_secret` to use the pods' roles)")
