"""The Kubernetes backend's errors when the cluster cannot be used (the rest runs in tests/e2e)."""

import pytest
from loopback import free_port

from mlserve.deploy.environments import Environment
from mlserve.deploy.kubernetes import KubernetesBackend
from mlserve.errors import DeployError, EnvironmentConfigError
from mlserve.spec import load_project

FIXTURE = "tests/fixtures/k8s_project"


def env(**settings) -> Environment:
    return Environment(name="prod", provider="kubernetes", registry="127.0.0.1:5000", **settings)


def test_an_unreachable_cluster_is_named(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        f"apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{free_port()}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "current-context: x\n")
    backend = KubernetesBackend(env(kubeconfig=str(kubeconfig)))
    with pytest.raises(DeployError) as err:
        backend.deploy(load_project(FIXTURE), lambda m: None)
    assert "cannot reach the Kubernetes API server at https://127.0.0.1:" in err.value.message
    assert "Connection refused" in err.value.message and "kubeconfig" in err.value.hint


def test_a_missing_kubeconfig_is_a_configuration_error(tmp_path):
    with pytest.raises(EnvironmentConfigError) as err:
        KubernetesBackend(env(kubeconfig=str(tmp_path / "nope"))).status()
    assert "does not exist" in err.value.message and "mlserve env set prod --kubeconfig" in err.value.hint


def test_a_bad_context_is_a_configuration_error(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n")
    with pytest.raises(EnvironmentConfigError) as err:
        KubernetesBackend(env(kubeconfig=str(kubeconfig), context="prod")).status()
    assert "cannot use kubeconfig" in err.value.message and "--context" in err.value.hint
