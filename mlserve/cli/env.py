"""`mlserve env list|set|show|delete|default`: named environments to deploy to."""

from __future__ import annotations

from typing import Annotated

import typer
import yaml
from rich.table import Table

from mlserve.cli.common import stdout
from mlserve.deploy import environments as envs
from mlserve.errors import EnvironmentConfigError

app = typer.Typer(help="Named environments: where `mlserve deploy --env NAME` puts APIs "
                       "(local processes, a Kubernetes cluster, or AWS EKS + ECR).",
                  no_args_is_help=True)


def _target(env: envs.Environment) -> str:
    if env.provider == "local":
        return "processes on this machine"
    if env.provider == "aws":
        return f"EKS {env.eks_cluster} ({env.region}), namespace {env.namespace}"
    where = env.kubeconfig or "default kubeconfig"
    return f"{where}{f' [{env.context}]' if env.context else ''}, namespace {env.namespace}"


@app.command("list")
def list_() -> None:
    """List the environments; * marks the default."""
    known, default = envs.load_environments()
    table = Table("", "name", "provider", "target", box=None, pad_edge=False)
    for name, env in known.items():
        table.add_row("*" if name == default else "", name, env.provider, _target(env))
    stdout().print(table)


@app.command("show")
def show(name: Annotated[str | None, typer.Argument(help="Environment (default: the default one).")] = None
         ) -> None:
    """Print an environment's settings, defaults included."""
    env = envs.get_environment(name)
    typer.echo(yaml.safe_dump({env.name: env.model_dump(exclude={"name"})}, sort_keys=False).rstrip())


def _node_selector(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise EnvironmentConfigError(f"--node-selector '{pair}' must be KEY=VALUE",
                                         hint="e.g. --node-selector kubernetes.io/hostname=node-1")
        out[key] = value
    return out


@app.command("set")
def set_(
    name: Annotated[str, typer.Argument(help="Environment to create or update.")],
    provider: Annotated[str | None, typer.Option(help="local | kubernetes | aws")] = None,
    kubeconfig: Annotated[str | None, typer.Option(help="Kubeconfig file (aws: overrides the EKS one).")] = None,
    context: Annotated[str | None, typer.Option(help="Kubeconfig context.")] = None,
    namespace: Annotated[str | None, typer.Option(help="Namespace for the APIs (default: default).")] = None,
    registry: Annotated[str | None, typer.Option(
        help="Image registry: host, host:port or host:port/path (aws: overrides the ECR host).")] = None,
    repository: Annotated[str | None, typer.Option(help="Image repository name (aws: ECR repository).")] = None,
    base_image: Annotated[str | None, typer.Option(
        help=f"Python 3 image the API images start from (default: {envs.DEFAULT_BASE_IMAGE}).")] = None,
    host_network: Annotated[bool | None, typer.Option(
        "--host-network/--no-host-network", help="Pods use the node's network (clusters without a pod network).",
        show_default=False)] = None,
    node_selector: Annotated[list[str] | None, typer.Option(
        help="KEY=VALUE node label the pods must run on (repeatable).")] = None,
    service_type: Annotated[str | None, typer.Option(help="ClusterIP | NodePort | LoadBalancer.")] = None,
    ingress_class: Annotated[str | None, typer.Option(help="Make an Ingress per API with this class.")] = None,
    ingress_host: Annotated[str | None, typer.Option(help="Make an Ingress per API on this host.")] = None,
    rollout_timeout: Annotated[float | None, typer.Option(help="Seconds to wait for APIs to be ready.")] = None,
    splitter_backend_host: Annotated[str | None, typer.Option(
        help="Traffic splitters reach APIs at this host and each API's port [Service DNS; 127.0.0.1 with "
             "--host-network].")] = None,
    istio_gateway: Annotated[str | None, typer.Option(
        help="Istio Gateway (namespace/name) traffic splitters bind to where the cluster has Istio "
             "[istio-system/mlserve-gateway].")] = None,
    hpa: Annotated[bool | None, typer.Option(
        "--hpa/--no-hpa", help="Scale with an HPA per API (needs a custom-metrics adapter) instead of "
                               "mlserve's autoscaler.", show_default=False)] = None,
    autoscaler_api_server: Annotated[str | None, typer.Option(
        help="API server address the autoscaler uses, https://host:port [in-cluster service].")] = None,
    autoscaler_scrape_cidr: Annotated[list[str] | None, typer.Option(
        help="Address range of pods the autoscaler may scrape (repeatable) [any].")] = None,
    autoscaler_node_selector: Annotated[list[str] | None, typer.Option(
        help="KEY=VALUE node label the autoscaler runs on (repeatable) [--node-selector].")] = None,
    autoscaler_interval: Annotated[float | None, typer.Option(
        help="Seconds between the autoscaler's decisions [10].")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region.")] = None,
    eks_cluster: Annotated[str | None, typer.Option(help="EKS cluster name.")] = None,
    aws_profile: Annotated[str | None, typer.Option(help="AWS profile for credentials.")] = None,
    aws_endpoint_url: Annotated[str | None, typer.Option(
        help="Another AWS-compatible endpoint (e.g. an emulator).")] = None,
    async_bucket: Annotated[str | None, typer.Option(
        help="S3 bucket for AsyncAPI results, created if missing [mlserve-async-<name>].")] = None,
    aws_secret: Annotated[str | None, typer.Option(
        help="Kubernetes Secret with AWS credentials (AWS_ACCESS_KEY_ID, ...) for the pods that use AWS "
             "[none: their role, e.g. IRSA on EKS].")] = None,
    unset: Annotated[list[str] | None, typer.Option(
        help="Remove a setting, back to its default (repeatable), e.g. --unset context.")] = None,
) -> None:
    """Create or update an environment; options not given keep their value.

    Examples:

      mlserve env set prod --provider kubernetes --kubeconfig ~/.kube/config --registry registry.example.com/team

      mlserve env set eks --provider aws --region us-west-2 --eks-cluster serving --repository my-apis
    """
    updates = dict(provider=provider, kubeconfig=kubeconfig, context=context, namespace=namespace,
                   registry=registry, repository=repository, base_image=base_image, host_network=host_network,
                   node_selector=_node_selector(node_selector), service_type=service_type,
                   ingress_class=ingress_class, ingress_host=ingress_host, rollout_timeout=rollout_timeout,
                   region=region, eks_cluster=eks_cluster, aws_profile=aws_profile,
                   aws_endpoint_url=aws_endpoint_url, async_bucket=async_bucket, aws_secret=aws_secret,
                   splitter_backend_host=splitter_backend_host,
                   istio_gateway=istio_gateway, hpa=hpa, autoscaler_api_server=autoscaler_api_server,
                   autoscaler_scrape_cidrs=autoscaler_scrape_cidr or None,
                   autoscaler_node_selector=_node_selector(autoscaler_node_selector),
                   autoscaler_interval=autoscaler_interval)
    env = envs.save_environment(name, updates, unset=unset or [])
    typer.echo(f"saved environment '{env.name}' ({env.provider}) in {envs.config_path()}")


@app.command("delete")
def delete(name: Annotated[str, typer.Argument(help="Environment to forget (nothing deployed is touched).")]
           ) -> None:
    """Remove an environment from the config file."""
    envs.delete_environment(name)
    typer.echo(f"deleted environment '{name}'")


@app.command("default")
def default(name: Annotated[str | None, typer.Argument(help="Make this the default environment.")] = None
            ) -> None:
    """Print the default environment, or set it."""
    if name is None:
        typer.echo(envs.load_environments()[1])
        return
    envs.set_default(name)
    typer.echo(f"default environment: {name}")
