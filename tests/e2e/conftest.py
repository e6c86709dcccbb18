"""The e2e tests take a real cluster, registry and base image through environment variables:

    MLSERVE_TEST_KUBECONFIG   kubeconfig of the cluster (required)
    MLSERVE_TEST_REGISTRY     registry the cluster's nodes pull from, e.g. 127.0.0.1:5000 (required)
    MLSERVE_TEST_BASE_IMAGE   Python 3 base image for the API images (default python:3.11-slim)
    MLSERVE_TEST_NODE         run pods on this node with the host network, and POST to it directly
                              (for clusters without a pod network, like .ci/e2e.sh's)
    MLSERVE_TEST_AWS_ENDPOINT an AWS emulator (moto server) for the aws provider test
    MLSERVE_TEST_CUSTOM_RESOURCES=1  the API server stores custom resources without crashing, even
                              where its version says otherwise (the CRD-backed tests: Istio,
                              ServiceMonitor; .ci/e2e.sh sets it when the build's PATCHES list
                              reflect2-go1.18-map-iteration)

Without them the tests skip; `.ci/e2e.sh` brings everything up on one machine and runs them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "k8s_project"


def need(*names: str) -> None:
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        pytest.skip(f"needs real infrastructure: set {', '.join(missing)} (see tests/e2e/conftest.py; .ci/e2e.sh does)")


@dataclass
class Cluster:
    config: Path  # MLSERVE_CONFIG for the CLI
    namespace: str
    kubeconfig: str
    registry: str
    base_image: str
    node: str | None

    def env_args(self, *, pin_apis: bool = True) -> list[str]:
        args = ["--kubeconfig", self.kubeconfig, "--registry", self.registry, "--base-image", self.base_image,
                "--namespace", self.namespace, "--rollout-timeout", "300"]
        if self.node:
            # No pod network: pods use the node's, the autoscaler runs there too, reaches the API server
            # on its loopback address and scrapes only loopback pods (the others' addresses are fake).
            args += ["--host-network", "--autoscaler-node-selector", f"kubernetes.io/hostname={self.node}",
                     "--autoscaler-api-server", self.server(), "--autoscaler-scrape-cidr", "127.0.0.0/8"]
            if pin_apis:
                args += ["--node-selector", f"kubernetes.io/hostname={self.node}"]
        return args

    def server(self) -> str:
        import yaml

        config = yaml.safe_load(Path(self.kubeconfig).read_text())
        return config["clusters"][0]["cluster"]["server"]

    def mlserve(self, *args: str, extra_env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "MLSERVE_CONFIG": str(self.config), "COLUMNS": "200", **(extra_env or {})}
        result = subprocess.run([sys.executable, "-m", "mlserve.cli", *map(str, args)], env=env,
                                capture_output=True, text=True, timeout=900)
        if check and result.returncode != 0:
            pytest.fail(f"mlserve {' '.join(map(str, args))} exited {result.returncode}\n"
                        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def follow(self, *args: str, lines: int = 3) -> list[str]:
        """The first lines a following command prints; then it is stopped (as with Ctrl-C)."""
        env = {**os.environ, "MLSERVE_CONFIG": str(self.config)}
        proc = subprocess.Popen([sys.executable, "-m", "mlserve.cli", *map(str, args)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        stopper = threading.Timer(60, proc.terminate)  # a stream that never prints fails, not hangs
        stopper.start()
        try:
            return [proc.stdout.readline().rstrip("\n") for _ in range(lines)]
        finally:
            stopper.cancel()
            proc.terminate()
            proc.wait(30)

    def api_client(self):
        from kubernetes import client, config

        conf = client.Configuration()
        config.load_kube_config(config_file=self.kubeconfig, client_configuration=conf)
        return client.ApiClient(conf)

    def objects(self, api: str) -> list[str]:
        """Kinds of the API's objects that exist in the namespace."""
        from kubernetes import client

        c = self.api_client()
        found = []
        selector = f"app.kubernetes.io/name={api}"
        ns = self.namespace
        if client.AppsV1Api(c).list_namespaced_deployment(ns, label_selector=selector).items:
            found.append("Deployment")
        if client.CoreV1Api(c).list_namespaced_service(ns, label_selector=selector).items:
            found.append("Service")
        if client.AutoscalingV1Api(c).list_namespaced_horizontal_pod_autoscaler(ns, label_selector=selector).items:
            found.append("HorizontalPodAutoscaler")  # only with the environment's hpa option
        return found

    def pods(self, api: str) -> set[str]:
        from kubernetes import client

        pods = client.CoreV1Api(self.api_client()).list_namespaced_pod(
            self.namespace, label_selector=f"app.kubernetes.io/name={api}").items
        return {p.metadata.name for p in pods if p.metadata.deletion_timestamp is None}

    def replica_sets(self, api: str) -> set[str]:
        """The API's ReplicaSets: a new one appears whenever its pod template changes."""
        from kubernetes import client

        sets = client.AppsV1Api(self.api_client()).list_namespaced_replica_set(
            self.namespace, label_selector=f"app.kubernetes.io/name={api}").items
        return {r.metadata.name for r in sets}

    def post(self, env_name: str, api: str, spec: Path, payload: dict) -> dict:
        """POST to the API where `mlserve get` says it is, or through the API server's service proxy."""
        status = json.loads(self.mlserve("get", api, "--env", env_name, "--spec", spec, "-o", "json").stdout)
        endpoint = status["endpoint"]
        if ".svc.cluster.local" not in endpoint:
            return httpx.post(endpoint, json=payload, timeout=30).json()
        # In-cluster address (no MLSERVE_TEST_NODE): go through the API server's service proxy.
        path = endpoint.split("/", 3)[3]
        from kubernetes.dynamic import DynamicClient

        response = DynamicClient(self.api_client()).request(
            "post", f"/api/v1/namespaces/{self.namespace}/services/{api}:http/proxy/{path}", body=payload)
        return json.loads(response.data)


AWS_SECRET = "mlserve-aws"  # the environments' credentials Secret (mlserve env set --aws-secret)
AWS_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # what the emulator takes


def make_aws_secret(cluster: Cluster) -> None:
    """The namespace and the Secret the environment names, as a user would make them with kubectl."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(cluster.api_client())
    for make in (lambda: core.create_namespace({"metadata": {"name": cluster.namespace}}),
                 lambda: core.create_namespaced_secret(cluster.namespace, {
                     "metadata": {"name": AWS_SECRET}, "stringData": AWS_KEYS})):
        try:
            make()
        except ApiException as e:
            if e.status != 409:  # 409: made by an earlier test of this session
                raise


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> Cluster:
    need("MLSERVE_TEST_KUBECONFIG", "MLSERVE_TEST_REGISTRY")
    c = Cluster(
        config=tmp_path_factory.mktemp("config") / "environments.yaml",
        namespace=f"mlserve-e2e-{uuid.uuid4().hex[:6]}",
        kubeconfig=os.environ["MLSERVE_TEST_KUBECONFIG"],
        registry=os.environ["MLSERVE_TEST_REGISTRY"],
        base_image=os.environ.get("MLSERVE_TEST_BASE_IMAGE", "python:3.11-slim"),
        node=os.environ.get("MLSERVE_TEST_NODE") or None,
    )
    yield c
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        client.CoreV1Api(c.api_client()).delete_namespace(c.namespace)
    except ApiException as e:
        if e.status != 404:  # 404: every test that ran skipped before deploying anything
            raise


@pytest.fixture
def project(tmp_path) -> Path:
    """A fresh copy of the fixture project in a folder named 'shop' (the project's label)."""
    root = tmp_path / "shop"
    shutil.copytree(FIXTURE, root)
    return root


@pytest.fixture
def registry_address() -> str:
    need("MLSERVE_TEST_REGISTRY")
    return os.environ["MLSERVE_TEST_REGISTRY"]


@pytest.fixture
def base_image() -> str:
    return os.environ.get("MLSERVE_TEST_BASE_IMAGE", "python:3.11-slim")


@pytest.fixture
def aws_endpoint() -> str:
    need("MLSERVE_TEST_AWS_ENDPOINT")
    return os.environ["MLSERVE_TEST_AWS_ENDPOINT"]
