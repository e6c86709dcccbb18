"""Wheels for the image's Python, downloaded on the host and cached by requirements."""

import subprocess
import zipfile

import pytest

from mlserve.errors import DeployError
from mlserve.image.wheels import Target, download_wheels

TARGET = Target(python="3.11", glibc="2.36", machine="x86_64")


def test_pip_args_select_the_target_platform():
    args = TARGET.pip_args()
    assert args[:5] == ["--only-binary=:all:", "--implementation", "cp", "--python-version", "3.11"]
    platforms = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert platforms[0] == "manylinux_2_36_x86_64" and "manylinux_2_17_x86_64" in platforms
    assert "manylinux2014_x86_64" in platforms and not any("2_4_" in p for p in platforms)


def test_download_for_the_target_then_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSERVE_CACHE", str(tmp_path))
    messages = []
    wheels = download_wheels("pyyaml==6.0.2\n", TARGET, messages.append)
    assert [w.name.split("-")[0] for w in wheels] == ["PyYAML"]
    # a compiled wheel for CPython 3.11 on manylinux, whatever Python runs the host
    assert "cp311" in wheels[0].name and "manylinux" in wheels[0].name
    assert zipfile.is_zipfile(wheels[0])
    assert len(messages) == 1

    def no_pip(*a, **k):
        raise AssertionError("pip must not run for cached requirements")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert download_wheels("pyyaml==6.0.2\n", TARGET, messages.append) == wheels


def test_a_missing_package_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSERVE_CACHE", str(tmp_path))
    with pytest.raises(DeployError) as err:
        download_wheels("mlserve-no-such-package-xyz==1.0\n", TARGET, lambda m: None)
    assert "mlserve-no-such-package-xyz" in err.value.message
    assert "Python 3.11" in err.value.hint
    assert not list((tmp_path / "wheels").glob("*/.complete"))
