"""Which backend serves an environment: `backend_for("prod", project_file)`.

Environments come from `mlserve.deploy.environments.get_environment(name)` (None: the user's
default, normally `local`); the environment's `provider` picks the factory below. Without that
module only the built-in `local` exists.
A provider is added by writing one factory and one `PROVIDERS` entry; factories import their
backend lazily so `mlserve deploy` on the local backend never loads cluster SDKs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlserve.deploy.base import Backend
from mlserve.errors import EnvironmentConfigError
from mlserve.extras import require

# (environment or None for the built-in `local`, path of cortex.yaml) -> Backend
Factory = Callable[[Any, Path], Backend]


def _local(environment: Any, project_file: Path) -> Backend:
    from mlserve.deploy.local.backend import LocalBackend

    return LocalBackend.for_project(project_file)


def _kubernetes(environment: Any, project_file: Path) -> Backend:
    require("deploying to Kubernetes", "kubernetes", "docker")
    from mlserve.deploy.kubernetes import KubernetesBackend

    return KubernetesBackend(environment, project_file)


def _aws(environment: Any, project_file: Path) -> Backend:
    require("deploying to AWS", "boto3", "kubernetes", "docker")
    from mlserve.deploy.aws import AwsBackend

    return AwsBackend(environment, project_file)


PROVIDERS: dict[str, Factory] = {
    "local": _local,
    "kubernetes": _kubernetes,
    "aws": _aws,
}

DEFAULT_ENVIRONMENT = "local"


def backend_for(env_name: str | None, project_file: Path) -> Backend:
    """The backend for environment `env_name` (None: the default one) and this cortex.yaml."""
    environment = _environment(env_name)
    provider = DEFAULT_ENVIRONMENT if environment is None else environment.provider
    factory = PROVIDERS.get(provider)
    if factory is None:
        raise EnvironmentConfigError(
            f"environment '{env_name}' uses provider '{provider}', which this mlserve does not support",
            hint=f"supported providers: {', '.join(sorted(PROVIDERS))}",
        )
    return factory(environment, Path(project_file))


def _environment(name: str | None) -> Any:
    try:
        environments = importlib.import_module("mlserve.deploy.environments")
    except ModuleNotFoundError as e:
        if e.name != "mlserve.deploy.environments":
            raise
        if name in (None, DEFAULT_ENVIRONMENT):
            return None
        raise EnvironmentConfigError(
            f"unknown environment '{name}'", hint=f"only '{DEFAULT_ENVIRONMENT}' is available",
        ) from None
    return environments.get_environment(name)
