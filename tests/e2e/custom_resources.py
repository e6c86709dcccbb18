"""A CRD installed for one e2e module and removed after it (so other tests see a cluster without it),
and the check that the API server at hand can store custom resources at all."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

CRDS = Path(__file__).parent / "crds"


def until(check, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"not within {timeout:.0f}s: {what}"
        time.sleep(0.5)
    return result


def served(api_client, group_version: str) -> bool:
    from kubernetes import client

    groups = client.ApisApi(api_client).get_api_versions().groups
    return group_version in {f"{g.name}/{v.version}" for g in groups for v in g.versions}


def custom_resources_crash(api_client) -> str | None:
    """Why this API server would crash on the first custom resource it stores, if it would.

    Kubernetes before 1.24 vendors reflect2 v1.0.1, whose map iteration does not match Go 1.18+'s
    runtime: built with a newer Go (as Debian builds 1.20), the API server dies with SIGSEGV in
    mapiterinit when it encodes a custom resource. MLSERVE_TEST_CUSTOM_RESOURCES=1 says the server
    at hand was built with reflect2 v1.0.2's iteration (.ci/e2e.sh sets it where the build's
    PATCHES list says so).
    """
    from kubernetes import client

    if os.environ.get("MLSERVE_TEST_CUSTOM_RESOURCES") == "1":
        return None
    v = client.VersionApi(api_client).get_code()
    minor = int(re.match(r"\d*", v.minor).group() or 0)
    go = tuple(int(n) for n in re.findall(r"\d+", v.go_version)[:2])
    if v.major == "1" and minor < 24 and go >= (1, 18):
        return (f"the cluster's API server (Kubernetes {v.git_version} built with {v.go_version}) crashes on the "
                "first custom resource it stores (reflect2 v1.0.1 under Go 1.18+); set "
                "MLSERVE_TEST_CUSTOM_RESOURCES=1 for a server built with reflect2 v1.0.2's map iteration")
    return None


def load_crd(name: str) -> dict:
    return yaml.safe_load((CRDS / name).read_text())


@contextlib.contextmanager
def installed(api_client, crd: dict) -> Iterator[None]:
    """The CRD served for the block (skip where the server would crash on it), removed after."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    crash = custom_resources_crash(api_client)
    if crash:
        pytest.skip(crash)
    spec = crd["spec"]
    group_version = f"{spec['group']}/{spec['versions'][0]['name']}"
    name = crd["metadata"]["name"]
    crds = client.ApiextensionsV1Api(api_client)
    try:
        crds.create_custom_resource_definition(crd)
    except ApiException as e:
        if e.status != 409:  # left by an interrupted run: this one removes it
            raise
    try:
        until(lambda: served(api_client, group_version), f"the API server serves {group_version}")
        yield
    finally:
        crds.delete_custom_resource_definition(name)

        def gone() -> bool:
            try:
                crds.read_custom_resource_definition(name)
                return False
            except ApiException as e:
                return e.status == 404
        until(lambda: gone() and not served(api_client, group_version), f"CRD {name} is gone", timeout=120)
