"""Named deploy environments (`local`, `prod`, ...) kept in a user config file.

The file is `~/.config/mlserve/environments.yaml` unless `MLSERVE_CONFIG` names another one:

    default: prod
    environments:
      prod:
        provider: kubernetes
        kubeconfig: ~/.kube/config
        namespace: serving
        registry: registry.example.com/team

`local` always exists (provider `local`, the embedded default) and cannot be redefined.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlserve.errors import EnvironmentConfigError
from mlserve.files import write_text
from mlserve.spec.loader import error_message

LOCAL = "local"
Provider = Literal["local", "kubernetes", "aws"]
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9_]{0,61}[a-z0-9])?$")
_GATEWAY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_SECRET = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# Images are built FROM this unless the environment names another Python 3 base.
DEFAULT_BASE_IMAGE = "python:3.11-slim"


class Environment(BaseModel):
    """Where `mlserve deploy --env NAME` puts the APIs."""

    model_config = ConfigDict(extra="forbid")

    name: str = LOCAL
    provider: Provider = "local"
    # Kubernetes (also used by aws, where `kubeconfig` overrides the EKS-generated one).
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str = "default"
    # Image registry (host[:port][/path]); for aws it overrides the ECR host for pushes and pulls.
    registry: str | None = None
    # Image repository name under the registry (for aws: the ECR repository).
    repository: str = "mlserve"
    base_image: str = DEFAULT_BASE_IMAGE
    # Pods use the node's network (clusters without a pod network); pin them with node_selector.
    host_network: bool = False
    node_selector: dict[str, str] = Field(default_factory=dict)
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    # An Ingress per API is made when an ingress class or host is given.
    ingress_class: str | None = None
    ingress_host: str | None = None
    rollout_timeout: float = Field(default=900.0, gt=0)
    # Traffic splitters reach their APIs at this host and each API's port (default: 127.0.0.1 on a
    # host network, else each API's Service DNS name).
    splitter_backend_host: str | None = None
    # Where the cluster serves Istio's VirtualService, splitters are VirtualServices bound to this
    # Gateway ("namespace/name"; default istio-system/mlserve-gateway), on ingress_host or any host.
    istio_gateway: str | None = None
    # Autoscaling: mlserve's controller in the namespace (docs/kubernetes.md), or with `hpa` an HPA
    # per API instead (for clusters with a custom-metrics adapter).
    hpa: bool = False
    autoscaler_api_server: str | None = None  # https://host:port; default: the in-cluster service
    autoscaler_scrape_cidrs: list[str] = Field(default_factory=lambda: ["0.0.0.0/0", "::/0"])
    autoscaler_node_selector: dict[str, str] = Field(default_factory=dict)  # default: node_selector
    autoscaler_interval: float = Field(default=10.0, gt=0, le=300)
    # AWS
    region: str | None = None
    eks_cluster: str | None = None
    aws_profile: str | None = None
    # Talk to another AWS-compatible endpoint (e.g. a local emulator) instead of AWS.
    aws_endpoint_url: str | None = None
    # S3 bucket of AsyncAPI results (created if missing); default mlserve-async-<environment>.
    async_bucket: str | None = None
    # A Secret in the namespace holding AWS credentials (AWS_ACCESS_KEY_ID, ...), loaded into the pods
    # that talk to AWS (deploy/aws_access.py); unset: their own chain (on EKS a role: IRSA or the node's).
    aws_secret: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"'{v}' must be lowercase letters, digits, '-' or '_'")
        return v

    @field_validator("aws_secret")
    @classmethod
    def _secret(cls, v: str | None) -> str | None:
        if v is not None and not _SECRET.match(v):
            raise ValueError(f"'{v}' is not a Secret name: lowercase letters, digits, '-' and '.'")
        return v

    @field_validator("istio_gateway")
    @classmethod
    def _gateway(cls, v: str | None) -> str | None:
        if v is not None and not _GATEWAY.match(v):
            raise ValueError(f"'{v}' is not an Istio Gateway: use namespace/name, e.g. istio-system/my-gateway")
        return v

    @field_validator("autoscaler_scrape_cidrs")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        import ipaddress

        for text in v:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(f"'{text}' is not an address range (use e.g. 127.0.0.0/8)") from None
        return v

    @model_validator(mode="after")
    def _provider_fields(self) -> Environment:
        if self.provider == "kubernetes" and not self.registry:
            raise ValueError("a kubernetes environment needs 'registry' (where images are pushed)")
        if self.provider == "aws":
            missing = [f for f in ("region", "eks_cluster") if not getattr(self, f)]
            if missing:
                raise ValueError(f"an aws environment needs {' and '.join(repr(m) for m in missing)}")
        return self

    def public(self) -> dict:
        """The settings as written in the config file (defaults left out)."""
        return self.model_dump(exclude={"name"}, exclude_defaults=True) | {"provider": self.provider}


def config_path() -> Path:
    override = os.environ.get("MLSERVE_CONFIG")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or "~/.config"
    return Path(base).expanduser() / "mlserve" / "environments.yaml"


def _read(path: Path) -> dict:
    if not path.is_file():
        return {"default": LOCAL, "environments": {}}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise EnvironmentConfigError(f"{path}: invalid YAML: {e}", hint="fix or delete the file") from None
    if not isinstance(data, dict) or not isinstance(data.get("environments", {}), dict):
        raise EnvironmentConfigError(
            f"{path}: expected 'default:' and an 'environments:' mapping",
            hint="see `mlserve env set --help` for how environments are written",
        )
    data.setdefault("environments", {})
    data.setdefault("default", LOCAL)
    return data


def _validate(name: str, settings: object, path: Path) -> Environment:
    if not isinstance(settings, dict):
        raise EnvironmentConfigError(f"{path}: environment '{name}' must be a mapping of settings")
    try:
        return Environment.model_validate({**settings, "name": name})
    except ValidationError as e:
        problems = "; ".join(
            ": ".join(filter(None, (".".join(str(p) for p in err["loc"]), error_message(err))))
            for err in e.errors(include_url=False)
        )
        raise EnvironmentConfigError(
            f"{path}: environment '{name}': {problems}",
            hint=f"fix it with `mlserve env set {name} ...` or edit the file",
        ) from None


def load_environments() -> tuple[dict[str, Environment], str]:
    """All environments (local first) and the name of the default one."""
    path = config_path()
    data = _read(path)
    envs = {LOCAL: Environment()}
    for name, settings in data["environments"].items():
        if name == LOCAL:
            raise EnvironmentConfigError(f"{path}: 'local' is built in and cannot be redefined",
                                         hint="give the environment another name")
        envs[str(name)] = _validate(str(name), settings, path)
    default = str(data["default"])
    if default not in envs:
        raise EnvironmentConfigError(f"{path}: the default environment '{default}' is not defined",
                                     hint="run `mlserve env default local` or define it with `mlserve env set`")
    return envs, default


def get_environment(name: str | None = None) -> Environment:
    """The named environment; when `name` is None, $MLSERVE_ENV or else the default one."""
    envs, default = load_environments()
    name = name or os.environ.get("MLSERVE_ENV") or default
    if name not in envs:
        raise EnvironmentConfigError(
            f"no environment named '{name}' in {config_path()} (known: {', '.join(envs)})",
            hint=f"create it with `mlserve env set {name} --provider kubernetes ...`",
        )
    return envs[name]


def _write(data: dict) -> None:
    write_text(config_path(), yaml.safe_dump(data, sort_keys=False))


def save_environment(name: str, updates: dict, *, unset: Sequence[str] = ()) -> Environment:
    """Create or update `name` with the given settings (None values are left as they were);
    settings named in `unset` go back to their defaults."""
    if name == LOCAL:
        raise EnvironmentConfigError("'local' is built in and cannot be changed",
                                     hint="create another environment, e.g. `mlserve env set prod ...`")
    path = config_path()
    data = _read(path)
    current = dict(data["environments"].get(name) or {})
    current.update({k: v for k, v in updates.items() if v is not None})
    for key in unset:
        if key not in Environment.model_fields or key == "name":
            raise EnvironmentConfigError(f"'{key}' is not an environment setting",
                                         hint=f"settings: {', '.join(f for f in Environment.model_fields if f != 'name')}")
        current.pop(key, None)
    env = _validate(name, current, path)
    data["environments"][name] = env.public()
    _write(data)
    return env


def delete_environment(name: str) -> None:
    path = config_path()
    data = _read(path)
    if name == LOCAL:
        raise EnvironmentConfigError("'local' is built in and cannot be deleted")
    if name not in data["environments"]:
        raise EnvironmentConfigError(f"no environment named '{name}' in {path}",
                                     hint="`mlserve env list` shows the known ones")
    del data["environments"][name]
    if data["default"] == name:
        data["default"] = LOCAL
    _write(data)


def set_default(name: str) -> None:
    envs, _ = load_environments()
    if name not in envs:
        raise EnvironmentConfigError(f"no environment named '{name}' in {config_path()}",
                                     hint=f"create it first with `mlserve env set {name} --provider ...`")
    data = _read(config_path())
    data["default"] = name
    _write(data)
