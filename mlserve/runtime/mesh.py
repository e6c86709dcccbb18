"""Predictions on one fixed path too, for a service mesh that splits traffic by weight.

An Istio VirtualService sends one route's requests to several APIs by weight, but rewrites the path
once for all of them, while each API answers at its own endpoint. So where the pod's environment
names a path in MLSERVE_MESH_PATH (Istio-mode deploys set it; nothing else does), a request to
exactly that path is served as if it had been sent to the API's endpoint: same handler, API key
check, limits, metrics and access log line.
"""

from __future__ import annotations

import os

from mlserve.contract import env
from mlserve.errors import EnvironmentConfigError

PATH_ENV = env.MESH_PATH
# What Istio-mode deploys set (an API whose own endpoint this is simply answers there once).
MESH_PATH = "/_mlserve/predict"


def mesh_path() -> str | None:
    """The extra path from the environment, checked; None where none is set."""
    path = os.environ.get(PATH_ENV) or None
    if path is not None and (not path.startswith("/") or path.endswith("/") or "?" in path):
        raise EnvironmentConfigError(f"{PATH_ENV}='{path}' is not a path like {MESH_PATH}",
                                     hint=f"unset {PATH_ENV}, or redeploy (Istio-mode deploys set it)")
    return path


class PathAlias:
    """Pure ASGI middleware: requests to `alias` go on as requests to `endpoint` (query kept)."""

    def __init__(self, app, alias: str, endpoint: str) -> None:
        self.app, self.alias, self.endpoint = app, alias, endpoint

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == self.alias:
            scope = {**scope, "path": self.endpoint, "raw_path": self.endpoint.encode()}
        await self.app(scope, receive, send)
