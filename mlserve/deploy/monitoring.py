"""A Prometheus Operator ServiceMonitor per API, rendered when the cluster serves that CRD
(found by API discovery); pods also carry the plain `prometheus.io/*` scrape annotations."""

from __future__ import annotations

from typing import Any

from mlserve.deploy.api_keys import SECRET_KEY, secret_name
from mlserve.deploy.manifests import CONFIG_HASH, config_hash, labels, selector
from mlserve.spec import APISpec

SERVICE_MONITOR_VERSION = "monitoring.coreos.com/v1"
SERVICE_MONITOR = (SERVICE_MONITOR_VERSION, "ServiceMonitor")


def service_monitor(api: APISpec, project: str, namespace: str) -> dict:
    endpoint: dict = {"port": "http", "path": "/metrics", "interval": "15s"}
    if api.networking.api_key_env and api.networking.metrics_require_api_key:
        endpoint["authorization"] = {"type": "Bearer",
                                     "credentials": {"name": secret_name(api), "key": SECRET_KEY}}
    obj: dict[str, Any] = {
        "apiVersion": SERVICE_MONITOR_VERSION, "kind": "ServiceMonitor",
        "metadata": {"name": api.name, "namespace": namespace, "labels": labels(api.name, project)},
        "spec": {"selector": {"matchLabels": selector(api.name)},
                 "namespaceSelector": {"matchNames": [namespace]}, "endpoints": [endpoint]},
    }
    obj["metadata"]["annotations"] = {CONFIG_HASH: config_hash(obj, "")}
    return obj
