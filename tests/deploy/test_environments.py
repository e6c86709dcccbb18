"""Named environments in the user's config file, and the `mlserve env` commands."""

import pytest
import yaml
from typer.testing import CliRunner

from mlserve.cli.app import build_app
from mlserve.deploy import environments as envs
from mlserve.errors import EnvironmentConfigError


@pytest.fixture(autouse=True)
def config(tmp_path, monkeypatch):
    path = tmp_path / "conf" / "environments.yaml"
    monkeypatch.setenv("MLSERVE_CONFIG", str(path))
    return path


def test_local_exists_without_a_file(config):
    known, default = envs.load_environments()
    assert list(known) == ["local"] and default == "local"
    assert envs.get_environment(None).provider == "local"
    assert not config.exists()


def test_save_merge_and_reload(config):
    envs.save_environment("prod", {"provider": "kubernetes", "registry": "reg:5000", "namespace": "apis"})
    envs.save_environment("prod", {"host_network": True, "node_selector": {"kubernetes.io/hostname": "n1"}})
    env = envs.get_environment("prod")
    assert (env.provider, env.registry, env.namespace, env.host_network) == ("kubernetes", "reg:5000", "apis", True)
    # defaults are not written out
    assert yaml.safe_load(config.read_text())["environments"]["prod"] == {
        "provider": "kubernetes", "namespace": "apis", "registry": "reg:5000", "host_network": True,
        "node_selector": {"kubernetes.io/hostname": "n1"}}
    envs.save_environment("prod", {}, unset=["namespace"])
    assert envs.get_environment("prod").namespace == "default"


def test_a_write_that_fails_keeps_the_old_file_and_leaves_no_temporaries(config, monkeypatch):
    envs.save_environment("prod", {"provider": "kubernetes", "registry": "reg:5000"})
    before = config.read_text()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", disk_full)  # the data must reach the disk before the rename
    with pytest.raises(OSError):
        envs.save_environment("prod", {"namespace": "apis"})
    assert config.read_text() == before
    assert [p.name for p in config.parent.iterdir()] == [config.name]


def test_provider_requirements_are_checked(config):
    with pytest.raises(EnvironmentConfigError) as err:
        envs.save_environment("prod", {"provider": "kubernetes"})
    assert "needs 'registry'" in err.value.message and str(config) in err.value.message
    with pytest.raises(EnvironmentConfigError) as err:
        envs.save_environment("eks", {"provider": "aws", "region": "us-east-1"})
    assert "'eks_cluster'" in err.value.message
    assert not config.exists()


def test_a_bad_file_names_itself_and_the_environment(config):
    config.parent.mkdir(parents=True)
    config.write_text("default: prod\nenvironments:\n  prod: {provider: kubernetes, registry: r, replicas: 3}\n")
    with pytest.raises(EnvironmentConfigError) as err:
        envs.get_environment("prod")
    assert f"{config}: environment 'prod': replicas:" in err.value.message
    config.write_text("environments: [1, 2]\n")
    with pytest.raises(EnvironmentConfigError):
        envs.load_environments()


def test_unknown_environment_says_how_to_create_it():
    with pytest.raises(EnvironmentConfigError) as err:
        envs.get_environment("staging")
    assert "known: local" in err.value.message and "mlserve env set staging" in err.value.hint


def test_local_is_reserved():
    for action in (lambda: envs.save_environment("local", {"provider": "kubernetes"}),
                   lambda: envs.delete_environment("local")):
        with pytest.raises(EnvironmentConfigError):
            action()


def test_default_follows_deletion():
    envs.save_environment("prod", {"provider": "kubernetes", "registry": "r"})
    envs.set_default("prod")
    assert envs.get_environment(None).name == "prod"
    envs.delete_environment("prod")
    assert envs.load_environments()[1] == "local"


def run(*args):
    return CliRunner().invoke(build_app(), list(args))


def test_env_commands(config):
    result = run("env", "set", "prod", "--provider", "kubernetes", "--registry", "127.0.0.1:5000",
                 "--host-network", "--node-selector", "kubernetes.io/hostname=real-node-1", "--namespace", "apis")
    assert result.exit_code == 0, result.output
    assert str(config) in result.output
    assert run("env", "default", "prod").exit_code == 0
    listed = run("env", "list").output
    assert "* " in listed and "prod" in listed and "kubernetes" in listed and "namespace apis" in listed
    shown = yaml.safe_load(run("env", "show", "prod").output)["prod"]
    assert shown["node_selector"] == {"kubernetes.io/hostname": "real-node-1"} and shown["base_image"]
    assert run("env", "default").output.strip() == "prod"
    assert run("env", "delete", "prod").exit_code == 0
    assert run("env", "default").output.strip() == "local"


def test_env_command_errors_are_messages_not_tracebacks():
    result = run("env", "set", "prod", "--provider", "kubernetes")
    assert result.exit_code == 1 and "needs 'registry'" in result.output and "Traceback" not in result.output
    result = run("env", "set", "prod", "--provider", "kubernetes", "--registry", "r", "--node-selector", "oops")
    assert result.exit_code == 1 and "KEY=VALUE" in result.output
    assert run("env", "show", "nope").exit_code == 1
