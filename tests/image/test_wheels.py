"""Wheels for the image's Python, downloaded on the host and cached by requirements."""

import subprocess
import sys
import tarfile
import zipfile

import pytest

from mlserve.errors import DeployError
from mlserve.image.wheels import Target, build_from_source, built_dir, download_wheels, host_target

TARGET = Target(python="3.11", glibc="2.36", machine="x86_64")

SETUP = """\
from setuptools import setup
setup(name="mlserve-sdist-only-demo", version="1.0", py_modules=["sdist_only_demo"])
"""


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
    assert "'mlserve-no-such-package-xyz==1.0' is not on the package index" in err.value.message
    assert "check the name and version" in err.value.hint and "--dry-run" in err.value.hint
    assert not list((tmp_path / "wheels").glob("*/.complete"))


def _sdist(folder):
    """A source-only package (as llama-cpp-python publishes) in a folder pip is pointed at."""
    src = folder / "mlserve-sdist-only-demo-1.0"
    src.mkdir(parents=True)
    (src / "setup.py").write_text(SETUP)
    (src / "sdist_only_demo.py").write_text("VALUE = 42\n")
    (src / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: mlserve-sdist-only-demo\nVersion: 1.0\n")
    with tarfile.open(folder / "mlserve-sdist-only-demo-1.0.tar.gz", "w:gz") as tar:
        tar.add(src, arcname=src.name)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="builds for this machine's Linux target")
def test_a_package_with_no_wheel_is_built_once_then_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSERVE_CACHE", str(tmp_path / "cache"))
    _sdist(tmp_path / "index")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "index"))
    target, messages = host_target(), []
    wheels = download_wheels("mlserve-sdist-only-demo==1.0\n", target, messages.append)
    assert [w.name for w in wheels] == ["mlserve_sdist_only_demo-1.0-py3-none-any.whl"]
    assert any("ships no wheel: building it from source once" in m for m in messages)
    with zipfile.ZipFile(wheels[0]) as whl:
        assert whl.read("sdist_only_demo.py") == b"VALUE = 42\n"
    # kept by (package, version, target): another requirement set reuses it without building again
    assert [w.name for w in built_dir(target).iterdir()] == [wheels[0].name]
    messages.clear()
    again = download_wheels("mlserve-sdist-only-demo==1.0\npyyaml==6.0.2\n", target, messages.append)
    assert wheels[0].name in [w.name for w in again]
    assert not any("building" in m for m in messages)
    # asked directly (as install.sh does), the cached build is returned without running pip
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip must not run for a built wheel"))
    assert build_from_source("mlserve-sdist-only-demo==1.0", target, messages.append).name == wheels[0].name


def test_no_wheel_and_a_foreign_target_says_how_to_supply_one(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSERVE_CACHE", str(tmp_path / "cache"))
    _sdist(tmp_path / "index")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "index"))
    foreign = Target(python="3.11", glibc="2.17", machine="aarch64")
    with pytest.raises(DeployError) as err:
        download_wheels("mlserve-sdist-only-demo==1.0\n", foreign, lambda m: None)
    assert "ships no wheel for the image's Python 3.11 (glibc 2.17, aarch64)" in err.value.message
    assert str(built_dir(foreign)) in err.value.hint
