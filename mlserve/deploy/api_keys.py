"""API keys on Kubernetes: one Secret per protected API, read by its pods through secretKeyRef,
so the key never appears in the Deployment (nor in `deploy --dry-run` output)."""

from __future__ import annotations

from mlserve.spec import APISpec

SECRET_KEY = "api-key"


def secret_name(api: APISpec) -> str:
    return f"{api.name}-api-key"


def key_env(api: APISpec) -> list[dict]:
    """The container's env entry for the key (none for an open API)."""
    if api.networking.api_key_env is None:
        return []
    return [{"name": api.networking.api_key_env,
             "valueFrom": {"secretKeyRef": {"name": secret_name(api), "key": SECRET_KEY}}}]


def secret(api: APISpec, key: str, labels: dict[str, str], namespace: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": secret_name(api), "namespace": namespace, "labels": labels},
            "stringData": {SECRET_KEY: key}}
